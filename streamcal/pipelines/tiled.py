"""Stage 1's way of executing a plan: tile by tile through a memory-mapped ramp.

The raw SCI array stays memory-mapped (``streamcal.datamodels.open_raw``). The plan's steps are prepared once
per exposure (references asked for, the reference-pixel correction computed from the 4-pixel edges:
:func:`~streamcal.pipelines.runner.prepare_steps`), then run tile by tile: full-width row blocks for ordinary
ramps, 32-row tiles split along x for ramps with many integrations. Each tile is read with a halo of pixels on
each side (the sum of the ramp steps' ``halo``: saturation growth and jump neighbour flags cross tile edges);
the ramp steps run on the extended tile, the halo is dropped, and the steps after ramp fitting run on the kept
pixels. Peak memory therefore follows the tile size (``block_bytes``), not the ramp, whatever the number of
groups and integrations. Results are bit-identical whatever the tiling and the number of threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamcal.datamodels import RawExposure
from streamcal.dq import Pixel
from streamcal.kernels.ramp.refpix import edge_index
from streamcal.models.ramp import DmsEdges, RampBlock, RateBlock
from streamcal.pipelines.plan import Plan, step_io
from streamcal.pipelines.provenance import Recorder
from streamcal.pipelines.runner import prepare_steps
from streamcal.steps.ramp.context import RampContext

__all__ = ["DEFAULT_BLOCK_BYTES", "TiledOutputs", "read_edges", "run_tiled"]

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


def read_edges(raw: RawExposure) -> DmsEdges:
    """The raw edge rows and columns of an exposure (what the reference-pixel correction is computed from)."""
    ny, nx = raw.shape[2:]
    rows, cols = edge_index(ny), edge_index(nx)
    row_data = np.concatenate([raw.ramp_block(int(r), int(r) + 1) for r in rows], axis=2)
    pdq = raw.pixeldq
    return DmsEdges(rows, cols, row_data, raw.ramp_columns(cols),
                    np.zeros((ny, nx), np.uint32) if pdq is None else pdq)


@dataclass
class TiledOutputs:
    """The arrays a run fills tile by tile: the rates (when the plan fits ramps) and the calibrated ramp."""

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

    def store_rates(self, rates: RateBlock) -> None:
        f, tile = rates.fit, (rates.rows, rates.cols)
        for ext, a, b in (("SCI", f.rate, f.rateints), ("ERR", f.err, f.err_ints),
                          ("VAR_POISSON", f.var_poisson, f.var_poisson_ints),
                          ("VAR_RNOISE", f.var_rnoise, f.var_rnoise_ints)):
            self.rate[ext][tile] = a
            self.ints[ext][(slice(None), *tile)] = b
        self.rate["DQ"][tile] = f.dq | rates.pixeldq
        self.ints["DQ"][(slice(None), *tile)] = f.dq_ints | rates.pixeldq


@dataclass(frozen=True, slots=True)
class _Segments:
    """The prepared steps split where the model changes from a ramp tile to its rates."""

    ramp: tuple[Any, ...]
    rates: tuple[Any, ...]

    @property
    def halo(self) -> int:
        """Pixels of context a tile needs on each side (box growth, neighbour flags)."""
        return sum(getattr(step, "halo", 0) for step in self.ramp)


def _segments(steps: tuple[Any, ...]) -> _Segments:
    """Ramp steps run on the tile with its halo; from the first step that makes something else (ramp_fit) on,
    the steps run on the kept pixels only."""
    for i, step in enumerate(steps):
        if step_io(type(step))[1] is not RampBlock:
            return _Segments(steps[:i], steps[i:])
    return _Segments(steps, ())


def _run_one(raw: RawExposure, seg: _Segments, ctx: RampContext, rec: Recorder, keep: tuple[slice, slice],
             out: TiledOutputs, file_dq: tuple[np.ndarray | None, np.ndarray | None]) -> None:
    """Calibrate the tile ``keep`` (read with ``seg.halo`` pixels of context on each side) into ``out``."""
    nints, ngroups, ny, nx = raw.shape
    halo = seg.halo
    rows = slice(max(0, keep[0].start - halo), min(ny, keep[0].stop + halo))
    cols = slice(max(0, keep[1].start - halo), min(nx, keep[1].stop + halo))
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    file_gdq, file_pdq = file_dq
    gdq = np.zeros((nints, ngroups, *shape), np.uint8) if file_gdq is None else file_gdq[:, :, rows, cols]
    pdq = np.zeros(shape, np.uint32) if file_pdq is None else file_pdq[rows, cols]
    block = RampBlock(raw.ramp_block(rows.start, rows.stop, cols=cols), gdq, pdq, rows, cols)
    for step in seg.ramp:  # counts of steps with a halo are taken on the kept pixels at the end
        block = rec.run(step, block, ctx, counts=getattr(step, "halo", 0) == 0)
    iy = slice(keep[0].start - rows.start, keep[0].stop - rows.start)
    ix = slice(keep[1].start - cols.start, keep[1].stop - cols.start)
    kept = RampBlock(block.data[:, :, iy, ix], block.groupdq[:, :, iy, ix], block.pixeldq[iy, ix], *keep)
    out.store_ramp(kept)
    model: RampBlock | RateBlock = kept
    for step in seg.rates:
        consumes, _ = step_io(type(step))
        if not isinstance(model, consumes):  # as run_plan: the step that makes its input declined
            rec.skip(step.name, f"needs a {consumes.__name__}, which the steps before it did not make")
            continue
        model = rec.run(step, model, ctx)
    if isinstance(model, RateBlock):
        out.store_rates(model)


def _count_flags(out: TiledOutputs, rec: Recorder) -> None:
    """Exposure-level counts of the steps that work with a halo (counted on the kept pixels only)."""
    dq = out.ints.get("DQ") if out.ints else None
    if dq is None and out.ramp:
        dq = np.bitwise_or.reduce(out.ramp["GROUPDQ"], axis=1)
    if dq is None:
        return
    if rec.ran("jump"):
        rec.set_count("jump", "pixel_ints_with_jumps", int(np.count_nonzero(dq & Pixel.JUMP_DET)))
    if rec.ran("saturation"):
        rec.set_count("saturation", "pixel_ints_saturated", int(np.count_nonzero(dq & Pixel.SATURATED)))


def run_tiled(raw: RawExposure, plan: Plan, ctx: RampContext, rec: Recorder, *, block_bytes: int = DEFAULT_BLOCK_BYTES,
              workers: int = 1, keep_ramp: bool = False) -> TiledOutputs:
    """Run ``plan`` over every tile of ``raw``; the calibrated ramp is kept with ``keep_ramp`` or when the plan
    does not fit ramps (calwebb_dark). ``workers`` > 1 runs tiles in threads (identical results)."""
    seg = _segments(prepare_steps(plan, ctx, rec))
    out = TiledOutputs(raw.shape, bool(seg.rates), keep_ramp or not seg.rates)
    file_dq = (raw.groupdq, raw.pixeldq)
    tiles = list(_tiles(raw.shape, block_bytes))
    if workers <= 1 or len(tiles) == 1:
        for keep in tiles:
            _run_one(raw, seg, ctx, rec, keep, out, file_dq)
    else:  # threads: numpy releases the GIL in its loops, and tiles write disjoint parts of ``out``
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage1") as pool:
            for future in [pool.submit(_run_one, raw, seg, ctx, rec, keep, out, file_dq) for keep in tiles]:
                future.result()
    _count_flags(out, rec)
    return out
