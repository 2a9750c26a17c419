"""The watcher and its completeness gate (services/watcher.py, services/ingest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from pathlib import Path

import pytest
from astropy.io import fits
from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.deadletters import DeadLetterStore, make_dead_letter
from services.events import ARRIVED, ExposureArrived
from services.ingest import Gate, eligible, file_id, looks_whole
from services.metrics import Metrics
from services.watcher import Watcher
from streamcal.routing import RoutingConfig, load_pars, load_routing_table
from tests.services.support import events_on, eventually, place_stage2_product

TABLE = load_routing_table()
LIBRARY = load_pars(registry=TABLE.registry)


def make_watcher(tmp_path: Path, *, corrupt_after_s: float = 0.6, force_polling: bool = False,
                 rescan_interval_s: float = 60.0, store: DeadLetterStore | None = None) -> Watcher:
    return Watcher(bus=InMemoryBus(), metrics=Metrics(CollectorRegistry()), ingest_dir=tmp_path / "ingest",
                   products_dir=tmp_path / "products", config=RoutingConfig(TABLE, LIBRARY),
                   gate=Gate(settle_polls=2, corrupt_after_s=corrupt_after_s), poll_interval_s=0.1,
                   rescan_interval_s=rescan_interval_s, force_polling=force_polling,
                   dead_lettered=store.has if store else None)


@contextlib.asynccontextmanager
async def running(watcher: Watcher):
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await eventually(lambda: watcher.ready, timeout=10)
    try:
        yield watcher
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def arrivals(watcher: Watcher) -> list[ExposureArrived]:
    assert isinstance(watcher.bus, InMemoryBus)
    return [e for e in events_on(watcher.bus, ARRIVED) if isinstance(e, ExposureArrived)]


@pytest.mark.parametrize("force_polling", [False, True], ids=["inotify", "polling"])
async def test_a_file_written_slowly_is_emitted_once_when_complete(program, tmp_path, force_polling):
    """1. A raw file written in two halves is not emitted while partial (even at a 2880 boundary), then
    exactly once, with its final size, when whole; both with OS events and with polling."""
    src = program.files("00001_nrca3")[0]
    data = src.read_bytes()
    half = (len(data) // 2 // 2880) * 2880
    watcher = make_watcher(tmp_path, corrupt_after_s=30.0, force_polling=force_polling)
    async with running(watcher):
        target = watcher.ingest_dir / src.name
        target.write_bytes(data[:half])
        await asyncio.sleep(0.8)
        assert arrivals(watcher) == [] and watcher.pending == 1
        with target.open("ab") as handle:
            handle.write(data[half:])
        await eventually(lambda: len(arrivals(watcher)) == 1, timeout=10)
        await asyncio.sleep(0.5)
    [event] = arrivals(watcher)
    assert event.size == len(data) and event.exposure_id == file_id(src) and event.file_kind == "exposure"
    assert event.landed_at.utcoffset() is not None


async def test_a_file_sized_first_and_filled_later_is_emitted_only_when_filled(program, tmp_path):
    """1b. A producer that sizes the file first (its final length, headers written, the data a hole) and fills
    it after a pause: stable, a multiple of 2880 bytes, headers that parse, and yet not emitted until filled."""
    src = program.files("00001_nrca3")[0]
    data = src.read_bytes()
    with fits.open(src) as hdul:  # where the ramp's bytes are: every header is written, they are not
        info = hdul["SCI"].fileinfo()
        start, end = info["datLoc"], info["datLoc"] + info["datSpan"]
    assert start % 2880 == 0 and end - start >= 8 * 4096
    watcher = make_watcher(tmp_path, corrupt_after_s=30.0)
    async with running(watcher):
        target = watcher.ingest_dir / src.name
        with target.open("wb") as handle:
            handle.write(data[:start])
            handle.seek(end)
            handle.write(data[end:])  # the final size, every header: the ramp is a hole
        assert looks_whole(target, len(data)) is False
        await asyncio.sleep(1.0)  # many polls with the same signature
        assert arrivals(watcher) == [] and watcher.pending == 1
        with target.open("r+b") as handle:
            handle.seek(start)
            handle.write(data[start:end])
        await eventually(lambda: len(arrivals(watcher)) == 1, timeout=10)
    [event] = arrivals(watcher)
    assert event.size == len(data) and target.read_bytes() == data


async def test_temporary_hidden_and_foreign_names_are_ignored(program, tmp_path):
    """2. ``.*``, ``*.tmp``, ``*.part`` and non-raw names are never emitted; the rename to the final name is."""
    src = program.files("00002_nrca3")[0]
    watcher = make_watcher(tmp_path)
    async with running(watcher):
        ingest = watcher.ingest_dir
        for name in (f".{src.name}", f"{src.name}.tmp", f"{src.name}.part", "notes.txt", "x_truth.fits"):
            shutil.copyfile(src, ingest / name)
        await asyncio.sleep(1.0)
        assert arrivals(watcher) == []
        (ingest / f"{src.name}.part").rename(ingest / src.name)
        await eventually(lambda: len(arrivals(watcher)) == 1)
    assert [e.path.name for e in arrivals(watcher)] == [src.name]
    assert not eligible(Path("a_uncal.fits~")) and eligible(Path("jw1_asn.json"))


async def test_the_same_file_version_is_never_emitted_twice(program, tmp_path):
    """3. Rescans do not re-emit a version already emitted; a rewritten file (new mtime) is a new version."""
    src = program.files("00003_nrca3")[0]
    watcher = make_watcher(tmp_path, rescan_interval_s=0.2)
    async with running(watcher):
        target = watcher.ingest_dir / src.name
        shutil.copyfile(src, target)
        await eventually(lambda: len(arrivals(watcher)) == 1)
        await asyncio.sleep(1.0)                       # several rescans later
        assert len(arrivals(watcher)) == 1
        stamp = time.time() + 5
        os.utime(target, (stamp, stamp))
        await eventually(lambda: len(arrivals(watcher)) == 2)
    first, second = arrivals(watcher)
    assert first.mtime_ns != second.mtime_ns and first.path == second.path


async def test_startup_rescan_re_emits_only_what_is_not_finished(program, tmp_path):
    """4. At start: files with their route's products (newer than the file), files already dead-lettered and
    ASN files already taken by the tracker are skipped; everything else is (re-)emitted."""
    store = DeadLetterStore(tmp_path / "products" / "deadletter")
    watcher = make_watcher(tmp_path, store=store)
    ingest, products = watcher.ingest_dir, watcher.products_dir
    ingest.mkdir()
    products.mkdir()
    dark, dark2 = program.files("jw01234006001", "jw01234006002")
    image = program.files("00004_nrca3")[0]
    dead = program.files("jw01234007001")[0]
    for src in (dark, dark2, image, dead):
        shutil.copyfile(src, ingest / src.name)
    renamed = ingest / "darks-from-tuesday_uncal.fits"  # dark's file under another name: products follow the
    shutil.copyfile(dark, renamed)                    # file name (as jwst's do), so it has none yet
    place_stage2_product(dark, products, "dark")                                     # calwebb_dark finished
    for suffix in ("rate", "rateints"):                                               # image: stage 1 only
        place_stage2_product(image, products, suffix)
    store.write(make_dead_letter(reason="corrupt_file", error="x", service="router", topic=ARRIVED,
                                 key=file_id(dead), raw=b"{}", attempts=1))
    (ingest / "jw01234-o001_x_image3_00001_asn.json").write_text("{}")
    (ingest / "jw01234-o002_x_image3_00001_asn.json").write_text("{}")
    (products / "jw01234-o001_x_image3_00001_asn.json").write_text("{}")
    async with running(watcher):
        await eventually(lambda: len(arrivals(watcher)) == 4)
        await asyncio.sleep(0.5)
    assert sorted(e.path.name for e in arrivals(watcher)) == sorted(
        [dark2.name, renamed.name, image.name, "jw01234-o002_x_image3_00001_asn.json"])


async def test_a_stable_file_that_is_not_fits_is_passed_on_to_be_dead_lettered(tmp_path):
    """5. A complete-but-broken file (not FITS, truncated) does not wait forever: after corrupt_after_s it
    is emitted so the router dead-letters it with the precise reason."""
    watcher = make_watcher(tmp_path, corrupt_after_s=0.6)
    async with running(watcher):
        (watcher.ingest_dir / "jw01234099001_02101_00001_nrca3_uncal.fits").write_text("not fits\n" * 100)
        started = time.monotonic()
        await eventually(lambda: len(arrivals(watcher)) == 1, timeout=10)
        assert time.monotonic() - started >= 0.5
