"""Stage-1 steps on ramp tiles: each wraps one kernel, reads its references from the context, and reports.

The kernels do the science (``streamcal.kernels.ramp``); these classes only bind parameters and references to
a tile. Reference tiles are cut here, so kernels stay tile-agnostic. ``halo`` is how many pixels of context a
step needs around a tile (saturation growth, jump neighbour flags); the tiled executor reads that much more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from streamcal.kernels.ramp.dark_current import subtract_dark
from streamcal.kernels.ramp.dq_init import initialize_dq
from streamcal.kernels.ramp.group_scale import scale_groups
from streamcal.kernels.ramp.jump import detect_jumps
from streamcal.kernels.ramp.linearity import correct_linearity
from streamcal.kernels.ramp.miri_flags import flag_first_frame, flag_last_frame, flag_rscd
from streamcal.kernels.ramp.refpix import RefpixCorrection, RefpixEdges, apply_refpix, refpix_correction
from streamcal.kernels.ramp.saturation import flag_saturation
from streamcal.kernels.ramp.superbias import subtract_superbias
from streamcal.models.keywords import header_int
from streamcal.models.ramp import DmsEdges, RampBlock
from streamcal.references import RefType
from streamcal.steps.base import StepOutcome, StepStatus
from streamcal.steps.ramp.context import RampContext

__all__ = [
    "DQInitStep",
    "DarkCurrentStep",
    "FirstFrameStep",
    "GroupScaleStep",
    "JumpStep",
    "LastFrameStep",
    "LinearityStep",
    "PreparedRefpix",
    "RefpixStep",
    "RscdStep",
    "SaturationStep",
    "SuperbiasStep",
]

_DONE = StepStatus.COMPLETE
_SKIP = StepStatus.SKIPPED


def _frmdivsr(ctx: RampContext) -> int | None:
    value = ctx.header.get("FRMDIVSR")
    return None if value in (None, "") else header_int(ctx.header, "FRMDIVSR")


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScaleStep:
    name: ClassVar[str] = "group_scale"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = scale_groups(block.data, frmdivsr=_frmdivsr(ctx), nframes=ctx.nframes)
        if not out.applied:
            return StepOutcome.skipped(block, "FRMDIVSR equals NFRAMES or is absent")
        return StepOutcome(block.replace(data=out.data), _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class DQInitStep:
    name: ClassVar[str] = "dq_init"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.MASK,)
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = initialize_dq(block.pixeldq, block.groupdq, mask=ctx.ref_tile(RefType.MASK, "DQ", block))
        return StepOutcome(block.replace(pixeldq=out.pixeldq, groupdq=out.groupdq), _DONE,
                           ctx.used(RefType.MASK), {"do_not_use_pixels": out.n_do_not_use})


@dataclass(frozen=True, slots=True, kw_only=True)
class SaturationStep:
    name: ClassVar[str] = "saturation"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SATURATION,)
    halo: ClassVar[int] = 1
    n_pix_grow_sat: int = 1

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        bias_ref = None if ctx.is_miri else ctx.refs.get(RefType.SUPERBIAS)
        bias = None if bias_ref is None else bias_ref.read("SCI", block.rows, block.cols)
        out = flag_saturation(block.data, block.groupdq, block.pixeldq,
                              threshold=ctx.ref_tile(RefType.SATURATION, "SCI", block),
                              threshold_dq=ctx.ref_tile(RefType.SATURATION, "DQ", block),
                              n_grow=self.n_pix_grow_sat, nframes=ctx.nframes, bias=bias)
        return StepOutcome(block.replace(groupdq=out.groupdq, pixeldq=out.pixeldq), _DONE,
                           ctx.used(RefType.SATURATION), {"saturated_pixels": out.n_saturated})


@dataclass(frozen=True, slots=True, kw_only=True)
class SuperbiasStep:
    name: ClassVar[str] = "superbias"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SUPERBIAS,)
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = subtract_superbias(block.data, block.pixeldq, bias=ctx.ref_tile(RefType.SUPERBIAS, "SCI", block),
                                 bias_dq=ctx.ref_tile(RefType.SUPERBIAS, "DQ", block))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, ctx.used(RefType.SUPERBIAS))


def _calibrated_edges(edges: DmsEdges, ctx: RampContext, fastaxis: int, earlier: Sequence[object]) -> RefpixEdges:
    """The edges with the steps before refpix applied (group scaling, mask, superbias), in readout frame."""
    divisor = _frmdivsr(ctx) if any(isinstance(s, GroupScaleStep) for s in earlier) else None
    factor = np.float32(divisor / ctx.nframes if divisor is not None and divisor != ctx.nframes else 1.0)
    rows_d = edges.row_data * factor
    cols_d = edges.col_data * factor
    row_dq, col_dq = edges.pixeldq[edges.rows], edges.pixeldq[:, edges.cols]
    everything = slice(0, edges.pixeldq.shape[0])
    # one read each: a column read loads every row anyway
    if any(isinstance(s, DQInitStep) for s in earlier):
        mask = ctx.ref(RefType.MASK).read("DQ", everything)
        row_dq, col_dq = row_dq | mask[edges.rows], col_dq | mask[:, edges.cols]
    if any(isinstance(s, SuperbiasStep) for s in earlier):
        bias = np.nan_to_num(ctx.ref(RefType.SUPERBIAS).read("SCI", everything), nan=0.0)
        rows_d, cols_d = rows_d - bias[edges.rows], cols_d - bias[:, edges.cols]
    if abs(fastaxis) == 1:
        return RefpixEdges(rows_d, cols_d, row_dq, col_dq)
    return RefpixEdges(np.swapaxes(cols_d, -1, -2), np.swapaxes(rows_d, -1, -2), col_dq.T, row_dq.T)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedRefpix:
    """The reference-pixel correction of one exposure, computed once from its edges, applied per tile."""

    name: ClassVar[str] = "refpix"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0
    correction: RefpixCorrection | None
    why_not: str = ""

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        if self.correction is None or not self.correction.applied:
            return StepOutcome.skipped(block, self.why_not or "no usable reference pixels")
        return StepOutcome(block.replace(data=apply_refpix(block.data, self.correction, rows=block.rows,
                                                           cols=block.cols)), _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class RefpixStep:
    """NIR reference-pixel correction: :meth:`prepare` computes it from the edges (with the steps before
    refpix applied to them) and returns the :class:`PreparedRefpix` that corrects each tile."""

    name: ClassVar[str] = "refpix"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0
    odd_even_columns: bool = True
    use_side_ref_pixels: bool = True
    side_smoothing_length: int = 11
    side_gain: float = 1.0

    def prepare(self, ctx: RampContext, earlier: Sequence[object]) -> PreparedRefpix:
        if ctx.is_miri:
            return PreparedRefpix(correction=None, why_not="MIRI")
        fastaxis = header_int(ctx.header, "FASTAXIS", default=1)
        correction = refpix_correction(
            _calibrated_edges(ctx.read_edges(), ctx, fastaxis, earlier), fastaxis=fastaxis,
            noutputs=header_int(ctx.header, "NOUTPUTS", default=1),
            odd_even_columns=self.odd_even_columns, use_side_ref_pixels=self.use_side_ref_pixels,
            side_smoothing_length=self.side_smoothing_length, side_gain=self.side_gain)
        return PreparedRefpix(correction=correction)

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        return self.prepare(ctx, ()).apply(block, ctx)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearityStep:
    name: ClassVar[str] = "linearity"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.LINEARITY,)
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = correct_linearity(block.data, block.groupdq, block.pixeldq,
                                coeffs=ctx.ref_tile(RefType.LINEARITY, "COEFFS", block),
                                lin_dq=ctx.ref_tile(RefType.LINEARITY, "DQ", block))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, ctx.used(RefType.LINEARITY),
                           {"no_correction_pixels": out.n_no_correction})


@dataclass(frozen=True, slots=True, kw_only=True)
class DarkCurrentStep:
    """Subtracts the dark averaged to the science readout (:func:`~streamcal.kernels.ramp.dark_current.subtract_dark`
    on each tile), unless the dark was averaged more coarsely than the science."""

    name: ClassVar[str] = "dark_current"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.DARK,)
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        ref = ctx.ref(RefType.DARK)
        nframes = header_int(ref.header, "NFRAMES", default=1)
        groupgap = header_int(ref.header, "GROUPGAP", default=0)
        if not (nframes <= ctx.nframes and groupgap <= ctx.groupgap):
            return StepOutcome.skipped(block, "dark averaged more coarsely than the science")
        out = subtract_dark(block.data, block.pixeldq, dark=ref.read("SCI", block.rows, block.cols),
                            dark_dq=ref.read("DQ", block.rows, block.cols), nframes=ctx.nframes,
                            groupgap=ctx.groupgap, int_start=header_int(ctx.header, "INTSTART", default=1))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, ctx.used(RefType.DARK))


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstFrameStep:
    name: ClassVar[str] = "firstframe"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = flag_first_frame(block.groupdq)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE if out.applied else _SKIP)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastFrameStep:
    name: ClassVar[str] = "lastframe"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = flag_last_frame(block.groupdq)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE if out.applied else _SKIP)


@dataclass(frozen=True, slots=True, kw_only=True)
class RscdStep:
    name: ClassVar[str] = "rscd"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0
    int1_skip: int = 0
    int2_skip: int = 1

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        out = flag_rscd(block.groupdq, int1_skip=self.int1_skip, int2_skip=self.int2_skip)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE if out.applied else _SKIP)


@dataclass(frozen=True, slots=True, kw_only=True)
class JumpStep:
    name: ClassVar[str] = "jump"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.GAIN, RefType.READNOISE)
    halo: ClassVar[int] = 1
    rejection_threshold: float = 4.0
    three_group_rejection_threshold: float = 6.0
    four_group_rejection_threshold: float = 5.0
    flag_4_neighbors: bool = True
    max_jump_to_flag_neighbors: float = 1000.0
    min_jump_to_flag_neighbors: float = 10.0

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]:
        if block.data.shape[1] < 3:
            return StepOutcome.skipped(block, "fewer than 3 groups")
        out = detect_jumps(block.data, block.groupdq, gain=ctx.ref_tile(RefType.GAIN, "SCI", block),
                           readnoise=ctx.ref_tile(RefType.READNOISE, "SCI", block), nframes=ctx.nframes,
                           rejection_threshold=self.rejection_threshold,
                           three_group_threshold=self.three_group_rejection_threshold,
                           four_group_threshold=self.four_group_rejection_threshold,
                           flag_4_neighbors=self.flag_4_neighbors,
                           max_jump_to_flag_neighbors=self.max_jump_to_flag_neighbors,
                           min_jump_to_flag_neighbors=self.min_jump_to_flag_neighbors)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE, ctx.used(RefType.GAIN, RefType.READNOISE),
                           {"jumps": out.n_jumps, "neighbors": out.n_neighbors})
