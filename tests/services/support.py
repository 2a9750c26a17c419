"""Helpers shared by the service tests and the Kafka integration tests (not collected: no ``test_`` prefix)."""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from services.bus import InMemoryBus
from services.codec import decode
from services.settings import Settings
from streamcal.datamodels import Extension, read_header, write_fits
from streamcal.routing import RoutingConfig, decide_spec
from streamcal.simulate import ProgramResult, simulate_program, write_reference_set

__all__ = [
    "Program",
    "events_on",
    "eventually",
    "fast_settings",
    "http_get",
    "land",
    "make_program",
    "place_stage2_product",
]


_CONFIG = RoutingConfig.load()


@dataclass(frozen=True)
class Program:
    """A simulated program (raw files in ``ingest``) and its reference set."""

    ingest: Path
    refs: Path
    exposures: list[Path]

    def files(self, *fragments: str) -> list[Path]:
        """The raw files whose names contain any of the fragments (all files when none is given)."""
        return [p for p in self.exposures if not fragments or any(f in p.name for f in fragments)]


#: The demo's programs but its full-frame WFSS visit (tests/services/test_wfss_waits.py runs that one end to end).
TEST_PROGRAMS = ("imaging_dither", "tso", "coron", "ami", "wfsc", "darks", "guider", "spectroscopy")


def make_program(root: Path, names: Iterable[str] = TEST_PROGRAMS) -> Program:
    """Simulate programs (small size) into ``root/ingest`` with a reference set cut to their layouts."""
    results: list[ProgramResult] = [simulate_program(n, root / "ingest", size="small") for n in names]
    exposures = [e for r in results for e in r.exposures]
    layouts = sorted({(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"])) for e in exposures})
    write_reference_set(root / "refs", only=layouts)
    return Program(root / "ingest", root / "refs", sorted(e.path for e in exposures))


def land(files: Iterable[Path], ingest: Path) -> list[Path]:
    """Copy files into an ingest folder the way a careful producer does: a temp name, then a rename. A MOS
    exposure's MSA metadata file (MSAMETFL, beside it) lands first, as the observatory delivers it."""
    ingest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in files:
        msa = str(read_header(src).get("MSAMETFL", "") or "").strip() if src.name.endswith("_uncal.fits") else ""
        if msa and (src.parent / msa).is_file() and not (ingest / msa).exists():
            shutil.copyfile(src.parent / msa, ingest / f".{msa}.part")
            (ingest / f".{msa}.part").rename(ingest / msa)
        tmp = ingest / f".{src.name}.part"
        shutil.copyfile(src, tmp)
        tmp.rename(ingest / src.name)
        out.append(ingest / src.name)
    return out


def fast_settings(tmp: Path, program: Program | None = None, **overrides: object) -> Settings:
    """Settings with test-sized timings (polls of 0.1 s, short backoffs, a few seconds of grace)."""
    base = Settings(ingest_dir=tmp / "ingest", products_dir=tmp / "products",
                    refs_dir=program.refs if program else tmp / "refs", poll_interval_s=0.1, settle_polls=2,
                    corrupt_after_s=0.6, rescan_interval_s=2.0, concurrency=2, timeout_s=120.0, max_attempts=2,
                    backoff_base_s=0.05, backoff_max_s=0.2, sweep_interval_s=0.2, shutdown_grace_s=10.0,
                    log_json=False)
    return replace(base, **overrides)  # type: ignore[arg-type]


def events_on(bus: InMemoryBus, topic: str) -> list[object]:
    """Every event published to a topic of the memory bus, decoded."""
    return [decode(r.value) for r in bus.records(topic)]


async def eventually(check: Callable[[], bool], *, timeout: float = 30.0, every: float = 0.05) -> None:
    """Wait until ``check()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {check}")
        await asyncio.sleep(every)


def http_get(port: int, path: str) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path; (status, body)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def place_stage2_product(raw: Path, products: Path, suffix: str = "cal") -> Path:
    """Put a product's *file* on storage (primary header of the raw exposure with the run specification the
    router decides for it, as every product records it; no pixels).

    The association tracker and the watcher's startup rescan only look at which products exist and at their
    headers; this stands for storage state, not for a pipeline (no calibration is claimed or faked).
    """
    root = raw.name.removesuffix("_uncal.fits")
    path = products / f"{root}_{suffix}.fits"
    header = read_header(raw)
    spec = decide_spec(header, table=_CONFIG.table, library=_CONFIG.library, source=raw.name)
    made_by = spec.route.stage2 if suffix in ("cal", "calints") else spec.route.stage1  # as PIPELINE records it
    write_fits(path, primary={**header, **spec.keywords(), "PIPELINE": made_by}, extensions=[Extension("SCI", None)])
    return path
