"""Nothing silently skipped: a raw file's identity is its content, not its modification time (issue 13).

A corrected exposure re-delivered with its old modification time (``cp -p`` rewrites the file in place and
puts the old mtime back; ``rsync -a`` renames a new file in with it) and a plainly replaced one are calibrated
again — stage 1, stage 2 and the stage 3 of their association — while the service runs and across a restart.
The products record which version of the raw file they were made from (SCRAWSUM).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.ingest import Gate, content_digest, stat_all
from services.products import products_done
from streamcal.datamodels import read_header, write_fits
from streamcal.datamodels.fitsio import Extension
from streamcal.simulate import simulate_program
from tests.reliability.accounting import account, report
from tests.services.support import Program, eventually, fast_settings, land, make_program

DITHER = "imaging_dither"


@pytest.fixture(scope="module")
def dither(tmp_path_factory: pytest.TempPathFactory) -> tuple[Program, dict[str, Path]]:
    """The 4-point imaging dither, and a second version of each of its raw files (same names, other pixels)."""
    root = tmp_path_factory.mktemp("dither")
    program = make_program(root, [DITHER])
    other = simulate_program(DITHER, root / "corrected", seed=7, size="small")
    return program, {e.path.name: e.path for e in other.exposures}


def _cp_p(src: Path, dst: Path) -> None:
    """``cp -p`` of a corrected file that carries the original's timestamp: rewritten in place, old mtime back."""
    before = os.stat(dst)
    shutil.copyfile(src, dst)
    os.utime(dst, ns=(before.st_atime_ns, before.st_mtime_ns))


def _recorded(products: Path, root: str) -> dict[str, object]:
    return {suffix: read_header(products / f"{root}_{suffix}.fits").get("SCRAWSUM") for suffix in ("rate", "cal")}


def test_the_gate_sees_a_cp_p_redelivery_as_a_new_version(dither, tmp_path):
    program, corrected = dither
    [path] = land(program.exposures[:1], tmp_path / "ingest")
    before = stat_all([path])[path]
    _cp_p(corrected[path.name], path)
    after = stat_all([path])[path]
    assert before is not None and after is not None
    assert before[:2] == after[:2]  # same size and mtime: a (size, mtime) gate would never emit it again
    assert before != after
    gate = Gate(settle_polls=1)
    gate.emitted_ok((path, before))
    gate.consider(path)
    gate.settled({path: after})  # first sight of this version
    assert gate.settled({path: after}) == [(path, after)]
    gate.emitted_ok((path, after))
    gate.consider(path)
    gate.settled({path: after})
    assert gate.settled({path: after}) == []  # the same version is never emitted twice


def test_products_of_another_raw_version_are_not_done(tmp_path):
    raw, product = tmp_path / "x_uncal.fits", tmp_path / "x_rate.fits"
    write_fits(raw, primary={"A": 1}, extensions=[Extension("SCI", None)])
    write_fits(product, primary={"SCSTAGE1": "calwebb_detector1", "SCRAWSUM": content_digest(raw)},
               extensions=[Extension("SCI", None)])
    assert products_done((product,), raw, digest=content_digest(raw))
    write_fits(raw, primary={"A": 2}, extensions=[Extension("SCI", None)])
    os.utime(raw, ns=(0, 0))  # older than the product: times alone would call it done
    assert products_done((product,), raw)
    assert not products_done((product,), raw, digest=content_digest(raw))


async def test_replaced_and_cp_p_redelivered_inputs_are_recalibrated_through_stage3(dither, tmp_path, request):
    """1. While running: a ``cp -p`` re-delivery re-runs stages 1, 2 and 3. 2. Across a restart: a file
    replaced while the service was down, and another ``cp -p``'d, are re-run; the untouched ones are not."""
    program, corrected = dither
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    raws = land(program.exposures, ingest)
    roots = [p.name.removesuffix("_uncal.fits") for p in raws]
    settings = fast_settings(tmp_path, program, rescan_interval_s=60.0)
    stop = asyncio.Event()
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry()))

    def i2d() -> list[Path]:
        return sorted(products.glob("jw*-*_i2d.fits"))  # the level-3 mosaic, not image2's

    await eventually(lambda: len(i2d()) == 1, timeout=180)
    [mosaic] = i2d()
    first_mosaic = mosaic.stat().st_mtime_ns
    first = {r: _recorded(products, r) for r in roots}
    assert all(v == {"rate": content_digest(p), "cal": content_digest(p)}
               for p, v in zip(raws, first.values(), strict=True))

    await asyncio.to_thread(_cp_p, corrected[raws[0].name], raws[0])
    new0 = content_digest(raws[0])
    await eventually(lambda: _recorded(products, roots[0]) == {"rate": new0, "cal": new0}, timeout=120)
    await eventually(lambda: mosaic.stat().st_mtime_ns > first_mosaic, timeout=120)
    stop.set()
    live = await run
    assert live.status == 0
    tally = live.process.observer.tally
    assert tally.release_events == 2 and not tally.deadletters

    # 2. while it is down: raws[1] replaced (new mtime), raws[2] cp -p'd; raws[3] untouched
    second_mosaic = mosaic.stat().st_mtime_ns
    tmp = ingest / f".{raws[1].name}.part"
    shutil.copyfile(corrected[raws[1].name], tmp)
    tmp.rename(raws[1])
    _cp_p(corrected[raws[2].name], raws[2])
    untouched = (products / f"{roots[3]}_cal.fits").stat().st_mtime_ns
    restarted = await run_system(settings, until_idle=2.0, install_signals=False, registry=CollectorRegistry())
    assert restarted.status == 0 and not restarted.process.observer.tally.deadletters
    for raw, root in zip(raws[1:3], roots[1:3], strict=True):
        assert _recorded(products, root) == {"rate": content_digest(raw), "cal": content_digest(raw)}
    assert (products / f"{roots[3]}_cal.fits").stat().st_mtime_ns == untouched
    assert mosaic.stat().st_mtime_ns > second_mosaic
    stage3 = [w for w in restarted.process.observer.tally.products.values() if w.pipeline == "calwebb_image3"]
    assert len(stage3) >= 1 and not any(w.skipped for w in stage3)
    ended = report(request, account(ingest, products, ()))
    assert ended.files_in == len(raws) == ended.with_products and not ended.lost
