"""calwebb_detector1 and calwebb_dark, streamed through the ramp in row blocks.

The raw SCI array stays memory-mapped (``streamcal.datamodels.open_raw``). The plan's steps are first
*prepared* once per exposure (references selected, the reference-pixel correction computed from the 4-pixel
edges), then run tile by tile: full-width row blocks for ordinary ramps, 32-row tiles split along x for ramps
with many integrations. Each tile is read with a halo of ``plan.halo`` pixels on each side (saturation growth
and jump neighbour flags cross tile edges), the ramp steps run on the extended tile, the halo is dropped, and
ramp fitting runs on the kept pixels. Peak memory
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
from streamcal.kernels.ramp.refpix import edge_index
from streamcal.models.keywords import header_int
from streamcal.pipelines.plan import Plan, build_plan
from streamcal.pipelines.provenance import Recorder, product_headers
from streamcal.pipelines.result import PipelineResult, StageConfig
from streamcal.references import ReferenceStore
from streamcal.routing import route, select_pars
from streamcal.steps import DmsEdges, ExposureContext, RampBlock, RateBlock, RefpixStep

__all__ = ["DEFAULT_BLOCK_BYTES", "run_stage1"]

#: Float32 bytes of ramp per block (halo excluded). Step temporaries are ~10x this; 8 MiB keeps full-frame
#: detector1 at 1.8x the float32 ramp in peak RSS (benchmarks/detector1.py) for ~10 % more time than 32 MiB.
DEFAULT_BLOCK_BYTES = 8 * 2**20


#: Tile height when a full-width block would be too large (long TSO ramps): tall enough that the halo
#: is a small part of the work, narrow enough to bound memory.
_TILE_ROWS = 32


def _tiles(shape: tuple[int, int, int, int], block_bytes: int) -> Iterator[tuple[slice, slice]]:
    """(rows, cols) of the tiles that cover the frame, each about ``block_bytes`` of float32 ramp.

    Full-width row blocks when at least ``_TILE_ROWS`` rows fit (full frames: no column halo at all);
    otherwise ``_TILE_ROWS``-row tiles split along x, so that many integrations do not force one-row
    blocks whose halo would be most of the work.
    """
    nints, ngroups, ny, nx = shape
    pixels = max(1, block_bytes // (nints * ngroups * 4))
    if pixels >= _TILE_ROWS * nx or ny <= _TILE_ROWS:
        rows, cols = max(1, min(ny, pixels // nx)), nx
    else:
        rows, cols = _TILE_ROWS, max(_TILE_ROWS, pixels // _TILE_ROWS)
    for y0 in range(0, ny, rows):
        for x0 in range(0, nx, cols):
            yield slice(y0, min(y0 + rows, ny)), slice(x0, min(x0 + cols, nx))


def _edges(raw: RawExposure) -> DmsEdges:
    ny, nx = raw.shape[2:]
    rows, cols = edge_index(ny), edge_index(nx)
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
        self.pixeldq[block.rows, block.cols] = block.pixeldq
        if self.keep_ramp:
            self.ramp["SCI"][:, :, block.rows, block.cols] = block.data
            self.ramp["GROUPDQ"][:, :, block.rows, block.cols] = block.groupdq

    def store_rates(self, rates: RateBlock, pixeldq: np.ndarray) -> None:
        f, tile = rates.fit, (rates.rows, rates.cols)
        for ext, a, b in (("SCI", f.rate, f.rateints), ("ERR", f.err, f.err_ints),
                          ("VAR_POISSON", f.var_poisson, f.var_poisson_ints),
                          ("VAR_RNOISE", f.var_rnoise, f.var_rnoise_ints)):
            self.rate[ext][tile] = a
            self.ints[ext][(slice(None), *tile)] = b
        self.rate["DQ"][tile] = f.dq | pixeldq
        self.ints["DQ"][(slice(None), *tile)] = f.dq_ints | pixeldq


def _run_one(raw: RawExposure, plan: Plan, ctx: ExposureContext, rec: Recorder, keep: tuple[slice, slice],
             out: _Outputs, file_dq: tuple[np.ndarray | None, np.ndarray | None]) -> None:
    """Calibrate the tile ``keep`` (read with ``plan.halo`` pixels of context on each side) into ``out``."""
    nints, ngroups, ny, nx = raw.shape
    rows = slice(max(0, keep[0].start - plan.halo), min(ny, keep[0].stop + plan.halo))
    cols = slice(max(0, keep[1].start - plan.halo), min(nx, keep[1].stop + plan.halo))
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    file_gdq, file_pdq = file_dq
    gdq = np.zeros((nints, ngroups, *shape), np.uint8) if file_gdq is None else file_gdq[:, :, rows, cols]
    pdq = np.zeros(shape, np.uint32) if file_pdq is None else file_pdq[rows, cols]
    block = RampBlock(raw.ramp_block(rows.start, rows.stop, cols=cols), gdq, pdq, rows, cols)
    for step in plan.ramp_steps:
        block = rec.run(step, block, ctx, counts=step.halo == 0)
    iy = slice(keep[0].start - rows.start, keep[0].stop - rows.start)
    ix = slice(keep[1].start - cols.start, keep[1].stop - cols.start)
    kept = RampBlock(block.data[:, :, iy, ix], block.groupdq[:, :, iy, ix], block.pixeldq[iy, ix], *keep)
    out.store_ramp(kept)
    rates: RampBlock | RateBlock = kept
    for rate_step in plan.rate_steps:
        rates = rec.run(rate_step, rates, ctx, counts=True)
    if isinstance(rates, RateBlock):
        out.store_rates(rates, kept.pixeldq)


def _run_blocks(raw: RawExposure, plan: Plan, ctx: ExposureContext, rec: Recorder, block_bytes: int,
                workers: int) -> _Outputs:
    out = _Outputs(raw.shape, plan.fits_ramps, plan.save_ramp or not plan.fits_ramps)
    file_dq = (raw.groupdq, raw.pixeldq)
    tiles = list(_tiles(raw.shape, block_bytes))
    if workers <= 1 or len(tiles) == 1:
        for keep in tiles:
            _run_one(raw, plan, ctx, rec, keep, out, file_dq)
    else:  # threads: numpy releases the GIL in its loops, and tiles write disjoint parts of ``out``
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage1") as pool:
            for future in [pool.submit(_run_one, raw, plan, ctx, rec, keep, out, file_dq) for keep in tiles]:
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
    config: StageConfig | None = None,
) -> PipelineResult:
    """Run calwebb_detector1 or calwebb_dark on one raw exposure.

    Products: ``_rate`` and ``_rateints`` (detector1; plus ``_ramp`` with ``save_ramp``), or ``_dark``
    (calwebb_dark), written atomically into ``out_dir`` under the exposure's JWST name, each carrying S_*
    step status and R_* reference keywords. ``workers`` > 1 calibrates blocks in that many threads (the
    result is identical; peak memory grows with the number of blocks in flight). ``config`` is the parsed
    routing table and parameter files (loaded here when omitted; callers running many exposures pass one).

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
    config = config if config is not None else StageConfig.load()
    table = config.table
    store = ReferenceStore.open(refs_dir)
    with open_raw(path) as raw:
        header = raw.primary
        name = ExposureName.from_header(header, source=path.name)
        pars = select_pars(alias, route(header, table, source=path.name), registry=table.registry,
                           library=config.pars, header=header)
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
