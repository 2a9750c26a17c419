"""calwebb_detector1 and calwebb_dark, streamed through the ramp in row blocks.

The raw SCI array stays memory-mapped (``streamcal.datamodels.open_raw``). The plan's steps are first
*prepared* once per exposure (references read and cut, the dark averaged, the reference-pixel correction
computed from the 4-pixel edges), then run block by block: each block of rows is read with a halo of
``plan.halo`` rows on each side (saturation growth and jump neighbour flags cross block edges), the ramp
steps run on the extended block, the halo is dropped, and ramp fitting runs on the kept rows. Peak memory
therefore follows the block size (``block_bytes``), not the ramp, whatever the number of groups and
integrations. calwebb_dark is the same run without ramp fitting; its product is the corrected ramp.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamcal.datamodels import ExposureName, RawExposure, open_raw, write_product
from streamcal.pipelines.plan import Plan, build_plan
from streamcal.pipelines.provenance import Recorder, product_headers
from streamcal.pipelines.result import PipelineResult
from streamcal.references import ReferenceStore
from streamcal.routing import load_routing_table, route, select_pars
from streamcal.routing.keywords import header_int
from streamcal.steps import DmsEdges, ExposureContext, RampBlock, RateBlock, RefpixStep

__all__ = ["DEFAULT_BLOCK_BYTES", "run_stage1"]

#: Float32 bytes of ramp per block (halo excluded). Step temporaries are ~10x this; 8 MiB keeps full-frame
#: detector1 at 1.8x the float32 ramp in peak RSS (benchmarks/detector1.py) for ~10 % more time than 32 MiB.
DEFAULT_BLOCK_BYTES = 8 * 2**20
_EDGE = 4


def _row_blocks(ny: int, rows: int) -> Iterator[slice]:
    for start in range(0, ny, rows):
        yield slice(start, min(start + rows, ny))


def _edges(raw: RawExposure) -> DmsEdges:
    ny, nx = raw.shape[2:]
    rows = np.unique(np.r_[np.arange(min(_EDGE, ny)), np.arange(max(ny - _EDGE, 0), ny)])
    cols = np.unique(np.r_[np.arange(min(_EDGE, nx)), np.arange(max(nx - _EDGE, 0), nx)])
    row_data = np.concatenate([raw.ramp_block(int(r), int(r) + 1) for r in rows], axis=2)
    pdq = raw.pixeldq
    return DmsEdges(rows, cols, row_data, raw.ramp_columns(cols),
                    np.zeros((ny, nx), np.uint32) if pdq is None else pdq)


@dataclass
class _Outputs:
    """The arrays a run fills block by block."""

    shape: tuple[int, int, int, int]
    fits: bool
    keep_ramp: bool
    pixeldq: np.ndarray = field(init=False)
    rate: dict[str, np.ndarray] = field(default_factory=dict)
    ints: dict[str, np.ndarray] = field(default_factory=dict)
    ramp: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        nints, _, ny, nx = self.shape
        self.pixeldq = np.zeros((ny, nx), np.uint32)
        if self.fits:
            for ext in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE"):
                self.rate[ext] = np.zeros((ny, nx), np.float32)
                self.ints[ext] = np.zeros((nints, ny, nx), np.float32)
            self.rate["DQ"] = np.zeros((ny, nx), np.uint32)
            self.ints["DQ"] = np.zeros((nints, ny, nx), np.uint32)
        if self.keep_ramp:
            self.ramp = {"SCI": np.zeros(self.shape, np.float32), "GROUPDQ": np.zeros(self.shape, np.uint8)}

    def store_ramp(self, block: RampBlock) -> None:
        self.pixeldq[block.rows] = block.pixeldq
        if self.keep_ramp:
            self.ramp["SCI"][:, :, block.rows] = block.data
            self.ramp["GROUPDQ"][:, :, block.rows] = block.groupdq

    def store_rates(self, rates: RateBlock, pixeldq: np.ndarray) -> None:
        f, rows = rates.fit, rates.rows
        for ext, a, b in (("SCI", f.rate, f.rateints), ("ERR", f.err, f.err_ints),
                          ("VAR_POISSON", f.var_poisson, f.var_poisson_ints),
                          ("VAR_RNOISE", f.var_rnoise, f.var_rnoise_ints)):
            self.rate[ext][rows] = a
            self.ints[ext][:, rows] = b
        self.rate["DQ"][rows] = f.dq | pixeldq
        self.ints["DQ"][:, rows] = f.dq_ints | pixeldq


def _run_one(raw: RawExposure, plan: Plan, ctx: ExposureContext, rec: Recorder, keep: slice, out: _Outputs,
             file_dq: tuple[np.ndarray | None, np.ndarray | None]) -> None:
    """Calibrate rows ``keep`` (read with ``plan.halo`` rows of context each side) into ``out``."""
    nints, ngroups, ny, nx = raw.shape
    ext = slice(max(0, keep.start - plan.halo), min(ny, keep.stop + plan.halo))
    nrows = ext.stop - ext.start
    file_gdq, file_pdq = file_dq
    gdq = np.zeros((nints, ngroups, nrows, nx), np.uint8) if file_gdq is None else file_gdq[:, :, ext]
    pdq = np.zeros((nrows, nx), np.uint32) if file_pdq is None else file_pdq[ext]
    block = RampBlock(raw.ramp_block(ext.start, ext.stop), gdq, pdq, ext)
    for step in plan.ramp_steps:
        block = rec.run(step, block, ctx, counts=step.halo == 0)
    inner = slice(keep.start - ext.start, keep.stop - ext.start)
    kept = RampBlock(block.data[:, :, inner], block.groupdq[:, :, inner], block.pixeldq[inner], keep)
    out.store_ramp(kept)
    rates: RampBlock | RateBlock = kept
    for rate_step in plan.rate_steps:
        rates = rec.run(rate_step, rates, ctx, counts=True)
    if isinstance(rates, RateBlock):
        out.store_rates(rates, kept.pixeldq)


def _run_blocks(raw: RawExposure, plan: Plan, ctx: ExposureContext, rec: Recorder, block_bytes: int,
                workers: int) -> _Outputs:
    nints, ngroups, ny, nx = raw.shape
    rows = max(1, block_bytes // (nints * ngroups * nx * 4))
    out = _Outputs(raw.shape, plan.fits_ramps, plan.save_ramp or not plan.fits_ramps)
    file_dq = (raw.groupdq, raw.pixeldq)
    blocks = list(_row_blocks(ny, rows))
    if workers <= 1 or len(blocks) == 1:
        for keep in blocks:
            _run_one(raw, plan, ctx, rec, keep, out, file_dq)
    else:  # threads: numpy releases the GIL in its loops, and blocks write disjoint rows of ``out``
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage1") as pool:
            for future in [pool.submit(_run_one, raw, plan, ctx, rec, keep, out, file_dq) for keep in blocks]:
                future.result()
    rec.count_flags(out)
    return out


def _write(out: _Outputs, plan: Plan, raw: RawExposure, name: ExposureName, out_dir: Path,
           rec: Recorder) -> tuple[Path, ...]:
    primary, sci = product_headers(raw.headers, rec, plan)
    written = []
    if plan.fits_ramps:
        written.append(write_product(out_dir / name.filename("rate"), out.rate, primary=primary, sci_header=sci))
        written.append(write_product(out_dir / name.filename("rateints"), out.ints, primary=primary,
                                     sci_header=sci))
    if out.keep_ramp:
        suffix = "ramp" if plan.fits_ramps else "dark"
        arrays = {"SCI": out.ramp["SCI"], "PIXELDQ": out.pixeldq, "GROUPDQ": out.ramp["GROUPDQ"]}
        written.append(write_product(out_dir / name.filename(suffix), arrays, primary=primary, sci_header=sci))
    return tuple(written)


def run_stage1(
    alias: str,
    raw_path: str | os.PathLike[str],
    *,
    refs_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    save_ramp: bool | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    workers: int = 1,
) -> PipelineResult:
    """Run calwebb_detector1 or calwebb_dark on one raw exposure.

    Products: ``_rate`` and ``_rateints`` (detector1; plus ``_ramp`` with ``save_ramp``), or ``_dark``
    (calwebb_dark), written atomically into ``out_dir`` under the exposure's JWST name, each carrying S_*
    step status and R_* reference keywords. ``workers`` > 1 calibrates blocks in that many threads (the
    result is identical; peak memory grows with the number of blocks in flight).

    Raises
    ------
    InvalidInputError subclasses
        The file or its header is unusable. Not retriable.
    MissingReferenceError
        The store has no reference a step needs; names it. Not retriable.
    ReferenceUnavailableError
        Retriable.
    """
    started = time.perf_counter()
    path = Path(raw_path)
    table = load_routing_table()
    store = ReferenceStore.open(refs_dir)
    with open_raw(path) as raw:
        header = raw.primary
        name = ExposureName.from_header(header, source=path.name)
        pars = select_pars(alias, route(header, table, source=path.name), registry=table.registry, header=header)
        plan = build_plan(pars, alias=alias, save_ramp=save_ramp)
        ctx = ExposureContext(header=header, shape=raw.shape, refs=store.for_exposure(header))
        header_int(header, "NGROUPS")  # required; a clear error before any work
        rec = Recorder(plan)
        edges = _edges(raw) if any(isinstance(s, RefpixStep) for s in plan.ramp_steps) else None
        for step in (*plan.ramp_steps, *plan.rate_steps):
            rec.prepare(step, ctx, edges)
        out = _run_blocks(raw, plan, ctx, rec, block_bytes, workers)
        products = _write(out, plan, raw, name, Path(out_dir), rec)
    return PipelineResult(alias, name.root, products, time.perf_counter() - started, rec.records())
