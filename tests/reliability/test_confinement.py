"""Confinement (issue 13): no file or event makes a service read outside its folders, and nothing the ingest
folder or the bus holds can wedge it.

Each vector is tried on the real service it targets (router, worker, tracker on the memory bus; the whole
embedded system for the ingest folder): ``..`` out of a root, an absolute path elsewhere, a symbolic link out,
a crafted work item or member-done event, a FIFO, a link to ``/dev/zero`` and a directory under a watched name,
and a poison message too large for the dead-letter topic. Each ends as one dead letter with its reason, and the
valid work next to it still completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.bus import InMemoryBus
from services.codec import encode
from services.confine import Roots, regular_file
from services.consumer import RetryPolicy
from services.deadletters import DeadLetters, DeadLetterStore, replay
from services.events import (
    ARRIVED,
    DEADLETTER,
    MEMBER_DONE,
    DeadLetter,
    ExposureArrived,
    MemberDone,
    WorkItem,
    utcnow,
    work_topic,
)
from services.metrics import Metrics
from services.router import Router, route_exposure
from services.runner import InProcessRunner
from services.tracker import Tracker
from services.worker import Worker
from streamcal.errors import ForbiddenPathError, NotRegularFileError
from streamcal.routing import RoutingConfig, load_pars, load_routing_table
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set
from tests.reliability.accounting import account, report
from tests.services.support import events_on, eventually, fast_settings

TABLE = load_routing_table()
CONFIG = RoutingConfig(TABLE, load_pars(registry=TABLE.registry))
POLICY = RetryPolicy(max_attempts=2, base_s=0.01, max_s=0.05)


@pytest.fixture(scope="module")
def exposure(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One small NRC_IMAGE raw file and its references, outside any ingest folder."""
    root = tmp_path_factory.mktemp("confine")
    made = simulate_exposure(ExposureSpec(exp_type="NRC_IMAGE"), root / "elsewhere", rng_seed=3)
    write_reference_set(root / "refs", only=[(made.header["DETECTOR"], made.header["SUBARRAY"])])
    return made.path, root / "refs"


def letters(bus: InMemoryBus) -> dict[str, DeadLetter]:
    """Dead letters by key (the exposure id or file name)."""
    return {d.key: d for d in events_on(bus, DEADLETTER) if isinstance(d, DeadLetter)}


def arrived(path: Path, exposure_id: str) -> ExposureArrived:
    """An arrival event as the watcher would send it, for any path (crafted ones included)."""
    return ExposureArrived(path=path, size=2880, mtime_ns=0, file_kind="exposure", exposure_id=exposure_id,
                           landed_at=utcnow())


@contextlib.asynccontextmanager
async def running(*services: Router | Worker | Tracker):
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in services]
    await eventually(lambda: all(s.ready for s in services))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


def test_roots_resolve_dot_dot_links_and_relative_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: ``..`` and links are resolved before comparing; a relative root is the same folder
    as its absolute spelling; an unconfigured root refuses everything."""
    ingest = tmp_path / "ingest"
    ingest.mkdir()
    (tmp_path / "outside_uncal.fits").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    roots = Roots.of(ingest=Path("ingest"))
    assert roots.require_inside(ingest / "a_uncal.fits", "ingest", what="raw") == ingest / "a_uncal.fits"
    with pytest.raises(ForbiddenPathError, match="outside the ingest folder"):
        roots.require_inside(ingest / ".." / "outside_uncal.fits", "ingest", what="raw")
    (ingest / "link").symlink_to(tmp_path)
    with pytest.raises(ForbiddenPathError, match="outside"):
        roots.require_inside(ingest / "link" / "outside_uncal.fits", "ingest", what="raw")
    with pytest.raises(ForbiddenPathError, match="no products folder"):
        roots.require_inside(ingest / "a_uncal.fits", "products", what="input")
    os.mkfifo(ingest / "pipe_uncal.fits")
    with pytest.raises(NotRegularFileError, match="a FIFO"):
        regular_file(ingest / "pipe_uncal.fits", what="raw")


async def test_the_router_refuses_paths_out_of_ingest_and_files_it_must_not_open(exposure, tmp_path):
    """Crafted arrivals (``..``, absolute elsewhere), a link out of the folder, a link to /dev/zero, a FIFO and
    a directory: one dead letter each, with its reason, without opening them; the valid file is routed."""
    raw, _ = exposure
    ingest = tmp_path / "ingest"
    ingest.mkdir()
    valid = Path(shutil.copy(raw, ingest / raw.name))
    (ingest / "jw01234009001_02101_00001_nrca3_uncal.fits").symlink_to(raw)
    (ingest / "jw01234009001_02101_00002_nrca3_uncal.fits").symlink_to("/dev/zero")
    os.mkfifo(ingest / "jw01234009001_02101_00003_nrca3_uncal.fits")
    (ingest / "jw01234009001_02101_00004_nrca3_uncal.fits").mkdir()
    (ingest / "jw01234009001_02101_00005_nrca3_uncal.fits").symlink_to(valid)  # a link within the folder
    cases = {"dotdot": (ingest / ".." / ".." / raw.parent.name / raw.name, "forbidden_path", "outside the ingest"),
             "absolute": (raw, "forbidden_path", "outside the ingest"),
             "link": (ingest / "jw01234009001_02101_00001_nrca3_uncal.fits", "forbidden_path", "outside the ingest"),
             "zero": (ingest / "jw01234009001_02101_00002_nrca3_uncal.fits", "forbidden_path", "'/dev/zero'"),
             "inner": (ingest / "jw01234009001_02101_00005_nrca3_uncal.fits", "forbidden_path", "symbolic link"),
             "fifo": (ingest / "jw01234009001_02101_00003_nrca3_uncal.fits", "invalid_input", "a FIFO"),
             "dir": (ingest / "jw01234009001_02101_00004_nrca3_uncal.fits", "invalid_input", "a directory")}
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    deadletters = DeadLetters(bus, metrics, DeadLetterStore(tmp_path / "products" / "deadletter"))
    router = Router(bus=bus, metrics=metrics, deadletters=deadletters, config=CONFIG,
                    roots=Roots.of(ingest=ingest), policy=POLICY)
    async with running(router):
        for key, (path, _, _) in cases.items():
            await bus.publish(ARRIVED, key, encode(arrived(path, key)))
        await bus.publish(ARRIVED, "valid", encode(arrived(valid, "valid")))
        await eventually(lambda: len(letters(bus)) == len(cases) and events_on(bus, work_topic("calwebb_detector1")),
                         timeout=20)
    found = letters(bus)
    for key, (_, reason, text) in cases.items():
        assert found[key].reason == reason and text in found[key].error, (key, found[key])
    [item] = events_on(bus, work_topic("calwebb_detector1"))
    assert isinstance(item, WorkItem) and item.input_path == valid


async def test_a_worker_refuses_crafted_work_items(exposure, tmp_path):
    """A work item is an event anyone on the bus can write: a stage-1 input outside the ingest folder, a link, or
    a stage-2 input outside the products folder is a forbidden_path dead letter before any run; the valid item
    next to them is calibrated."""
    raw, refs = exposure
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    ingest.mkdir()
    valid = Path(shutil.copy(raw, ingest / raw.name))
    link = ingest / "jw01234009001_02101_00001_nrca3_uncal.fits"
    link.symlink_to(raw)
    routed = route_exposure(valid, TABLE, CONFIG.library)
    spec = routed.spec.to_dict()

    def item(pipeline: str, input_path: Path, raw_path: Path, key: str) -> WorkItem:
        return WorkItem(pipeline=pipeline, input_path=input_path, raw_path=raw_path, spec=spec, exposure_id=key,
                        association_id=routed.association_id, landed_at=utcnow())

    crafted = {"outside": item("calwebb_detector1", raw, raw, "outside"),
               "dotdot": item("calwebb_detector1", ingest / ".." / ".." / raw.parent.name / raw.name, valid, "dotdot"),
               "link": item("calwebb_detector1", link, link, "link"),
               "stage2": item("calwebb_image2", valid, valid, "stage2")}  # a stage-2 input must be a product
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    roots = Roots.of(ingest=ingest, products=products, refs=refs)
    async with InProcessRunner(processes=1, timeout_s=120.0) as runner:
        workers = [Worker(alias=a, bus=bus, metrics=metrics, deadletters=DeadLetters(bus, metrics), runner=runner,
                          roots=roots, policy=POLICY) for a in ("calwebb_detector1", "calwebb_image2")]
        async with running(*workers):
            for key, work in crafted.items():
                await bus.publish(work_topic(work.pipeline), key, encode(work))
            await bus.publish(work_topic("calwebb_detector1"), routed.exposure_id,
                              encode(item("calwebb_detector1", valid, valid, routed.exposure_id)))
            await eventually(lambda: len(letters(bus)) == len(crafted)
                             and (products / f"{routed.exposure_id}_rate.fits").exists(), timeout=60)
    found = letters(bus)
    assert {k: d.reason for k, d in found.items()} == dict.fromkeys(crafted, "forbidden_path")
    assert "outside the ingest" in found["link"].error and "products folder" in found["stage2"].error
    assert {p.name.split("_")[:4] == routed.exposure_id.split("_") for p in products.glob("*.fits")} == {True}


async def test_the_tracker_refuses_a_member_outside_the_products_folder(exposure, tmp_path):
    """A member-done naming a product elsewhere (its existence would leak, its headers be read) is refused."""
    raw, _ = exposure
    products = tmp_path / "products"
    products.mkdir()
    routed = route_exposure(raw, TABLE, CONFIG.library)
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    tracker = Tracker(bus=bus, metrics=metrics, deadletters=DeadLetters(bus, metrics), products_dir=products,
                      config=CONFIG, deadline_s=3600.0, sweep_interval_s=0.1, policy=POLICY)
    event = MemberDone(association_id=routed.association_id or "a", exposure_id=routed.exposure_id,
                       product_path=products / ".." / "elsewhere_cal.fits", raw_path=raw, spec=routed.spec.to_dict())
    async with running(tracker):
        await bus.publish(MEMBER_DONE, event.association_id, encode(event))
        await eventually(lambda: len(letters(bus)) == 1)
    [letter] = letters(bus).values()
    assert letter.reason == "forbidden_path" and "outside the products folder" in letter.error


async def test_hostile_names_in_the_ingest_folder_do_not_wedge_the_system(exposure, tmp_path, request):
    """The whole embedded system: a FIFO, a link to /dev/zero, a link to a file outside and a directory, all
    under watched names, land first; each ends as one dead letter, and a valid exposure landed afterwards gets
    its products within 30 s; the run then stops cleanly."""
    raw, refs = exposure
    settings = fast_settings(tmp_path, refs_dir=refs)
    ingest = tmp_path / "ingest"
    ingest.mkdir()
    hostile = {"jw01234009001_02101_00001_nrca3": lambda p: os.mkfifo(p),
               "jw01234009001_02101_00002_nrca3": lambda p: p.symlink_to("/dev/zero"),
               "jw01234009001_02101_00003_nrca3": lambda p: p.symlink_to(raw),
               "jw01234009001_02101_00004_nrca3": lambda p: p.mkdir(),
               "jw01234-o009_20240101t000000_image3_00001": lambda p: os.mkfifo(p)}
    for stem, make in hostile.items():
        make(ingest / (f"{stem}_asn.json" if "-o009" in stem else f"{stem}_uncal.fits"))
    stop, started = asyncio.Event(), []
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await eventually(lambda: bool(started), timeout=30)
    tally = started[0].observer.tally
    await eventually(lambda: len(tally.deadletters) == len(hostile), timeout=30)
    shutil.copy(raw, ingest / ".landing.part")
    (ingest / ".landing.part").rename(ingest / raw.name)
    root = raw.name.removesuffix("_uncal.fits")
    await eventually(lambda: (tmp_path / "products" / f"{root}_cal.fits").exists(), timeout=30)
    stop.set()
    result = await asyncio.wait_for(run, settings.shutdown_grace_s + 5)
    assert result.status == 0
    reasons = {key: reason for key, reason in tally.deadletters}
    assert reasons == {"jw01234009001_02101_00001_nrca3": "invalid_input",
                       "jw01234009001_02101_00002_nrca3": "forbidden_path",
                       "jw01234009001_02101_00003_nrca3": "forbidden_path",
                       "jw01234009001_02101_00004_nrca3": "invalid_input",
                       "jw01234-o009_20240101t000000_image3_00001_asn.json": "invalid_input"}
    ended = report(request, account(ingest, tmp_path / "products", reasons))
    assert ended.files_in == len(hostile) + 1 and ended.dead_letters == len(hostile) and not ended.lost


async def test_a_poison_message_too_large_for_the_topic_is_one_small_dead_letter(tmp_path):
    """A 1.2 MB message that is not an event: its dead letter keeps its size, digest and position but not its
    bytes (a Kafka producer refuses records over 1 MB, so the letter would be retried forever and stop the
    service); the message after it is still handled, and replay skips the unkept original."""
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    router = Router(bus=bus, metrics=metrics, deadletters=DeadLetters(bus, metrics), config=CONFIG,
                    roots=Roots.of(ingest=tmp_path), policy=POLICY)
    poison = b"{" + b"x" * 1_200_000
    async with running(router):
        await bus.publish(ARRIVED, "poison", poison)
        await bus.publish(ARRIVED, "small", b"not an event")
        await eventually(lambda: len(letters(bus)) == 2)
    big, small = letters(bus)["poison"], letters(bus)["small"]
    assert big.reason == small.reason == "malformed_event"
    assert big.original == "" and not big.replayable and big.original_size == len(poison)
    assert big.original_sha256 == hashlib.sha256(poison).hexdigest()
    assert re.fullmatch(rf"{re.escape(ARRIVED)}\[\d+\]@0", big.original_at or "")
    assert len(encode(big)) < 16_000 and small.replayable
    again = InMemoryBus()
    assert await replay(again, [big, small]) == 1 and [r.value for r in again.records(ARRIVED)] == [b"not an event"]


@pytest.mark.parametrize("slit", ["../../../tmp/evil", "s200a1/../../x"])
def test_spec3_does_not_fill_a_product_name_with_a_path(slit: str) -> None:
    """Review of issue 13: an upstream ASN whose product name is jwst's bare ``{slit_name}`` passes
    check_upstream; filling it from a member's FXD_SLIT must not make a path spec3 would write to."""
    from streamcal.errors import AssociationError
    from streamcal.pipelines.spec3 import product_name

    assert product_name("jw01234-o008_{source_id}_nirspec_{slit_name}", {"FXD_SLIT": "S200A1"}) == (
        "jw01234-o008_s000000001_nirspec_s200a1")
    with pytest.raises(AssociationError, match="not a plain file name"):
        product_name("{slit_name}", {"FXD_SLIT": slit})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("member", "../elsewhere_cal.fits", "not a bare"),
    ("member", "/etc/passwd_cal.fits", "not a bare"),
    ("product", "../../tmp/evil", "not a plain name"),
    ("product", "/abs/evil", "not a plain name"),
    ("asn_id", "a/../../b", "not a plain id"),
])
def test_an_upstream_association_cannot_name_paths(field: str, value: str, message: str) -> None:
    """ASN files and pools come from outside: members must be bare file names, the product name and the asn_id
    plain names (stage 3 writes files named after them); anything else is refused before it is tracked."""
    from streamcal.associations import asn_from_dict, check_upstream
    from streamcal.errors import AssociationError

    doc = {"asn_type": "image3", "asn_rule": "candidate_Asn_Lv3Image", "asn_id": "o001", "asn_pool": "p",
           "program": "01234", "version_id": "20240101t000000", "code_version": "x", "degraded_status": "none",
           "target": "t001", "products": [{"name": "jw01234-o001_t001_nircam_clear-f200w",
                                           "members": [{"expname": "jw01234001001_02101_00001_nrca3_cal.fits",
                                                        "exptype": "science"}]}]}
    check_upstream(asn_from_dict(doc, source="ok_asn.json"), "ok_asn.json")  # the plain one passes
    if field == "member":
        doc["products"][0]["members"][0]["expname"] = value  # type: ignore[index]
    elif field == "product":
        doc["products"][0]["name"] = value  # type: ignore[index]
    else:
        doc["asn_id"] = value
    with pytest.raises(AssociationError, match=message):
        check_upstream(asn_from_dict(doc, source="bad_asn.json"), "bad_asn.json")


def test_an_oversized_association_file_is_refused_unread(tmp_path: Path) -> None:
    """A huge (here sparse) ``*_asn.json`` is not read into memory by the watcher's gate or the router."""
    from services.ingest import looks_whole
    from streamcal.associations import read_asn
    from streamcal.associations.model import MAX_ASN_BYTES
    from streamcal.errors import AssociationError

    big = tmp_path / "jw01234-o001_20240101t000000_image3_00001_asn.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_ASN_BYTES + 1)
    assert looks_whole(big, big.stat().st_size)  # passed on at once, to be refused with the reason
    with pytest.raises(AssociationError, match="more than the"):
        read_asn(big)
