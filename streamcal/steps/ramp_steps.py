"""Stage-1 steps on ramp blocks: each wraps one kernel, reads its references from the context, and reports.

The kernels do the science (``streamcal.kernels``); these classes only bind parameters and references to
a row block. Row slicing of references happens here, so kernels stay block-agnostic.
"""

from __future__ import annotations

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
from streamcal.references import RefType
from streamcal.steps.base import ExposureContext, RampBlock, StepOutcome, StepStatus

__all__ = [
    "DQInitStep",
    "DarkCurrentStep",
    "DmsEdges",
    "FirstFrameStep",
    "GroupScaleStep",
    "JumpStep",
    "LastFrameStep",
    "LinearityStep",
    "RefpixStep",
    "RscdStep",
    "SaturationStep",
    "SuperbiasStep",
]

_DONE = StepStatus.COMPLETE
_SKIP = StepStatus.SKIPPED


def _used(ctx: ExposureContext, *reftypes: RefType) -> tuple[tuple[RefType, str], ...]:
    return tuple((r, ctx.ref(r).name) for r in reftypes)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScaleStep:
    name: ClassVar[str] = "group_scale"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        frmdivsr = ctx.header.get("FRMDIVSR")
        divisor = None if frmdivsr in (None, "") else header_int(ctx.header, "FRMDIVSR")
        ctx.prepared["group_scale"] = divisor
        if divisor is not None and divisor != ctx.nframes:
            ctx.prepared["group_scale_factor"] = divisor / ctx.nframes

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        divisor = ctx.prepared.get("group_scale")
        out = scale_groups(block.data, frmdivsr=divisor if isinstance(divisor, int) else None, nframes=ctx.nframes)
        if not out.applied:
            return StepOutcome(block, _SKIP, note="FRMDIVSR equals NFRAMES or is absent")
        return StepOutcome(block.replace(data=out.data), _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class DQInitStep:
    name: ClassVar[str] = "dq_init"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.MASK,)
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ctx.ref(RefType.MASK)
        ctx.prepared["dq_init"] = True

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        out = initialize_dq(block.pixeldq, block.groupdq, mask=ctx.ref_tile(RefType.MASK, "DQ", block))
        return StepOutcome(block.replace(pixeldq=out.pixeldq, groupdq=out.groupdq), _DONE,
                           _used(ctx, RefType.MASK), {"do_not_use_pixels": out.n_do_not_use})


@dataclass(frozen=True, slots=True, kw_only=True)
class SaturationStep:
    name: ClassVar[str] = "saturation"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SATURATION,)
    halo: ClassVar[int] = 1
    n_pix_grow_sat: int = 1

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ctx.ref(RefType.SATURATION)

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        bias_ref = None if ctx.is_miri else ctx.refs.get(RefType.SUPERBIAS)
        bias = None if bias_ref is None else bias_ref.read("SCI", block.rows, block.cols)
        out = flag_saturation(block.data, block.groupdq, block.pixeldq,
                              threshold=ctx.ref_tile(RefType.SATURATION, "SCI", block),
                              threshold_dq=ctx.ref_tile(RefType.SATURATION, "DQ", block),
                              n_grow=self.n_pix_grow_sat, nframes=ctx.nframes, bias=bias)
        return StepOutcome(block.replace(groupdq=out.groupdq, pixeldq=out.pixeldq), _DONE,
                           _used(ctx, RefType.SATURATION), {"saturated_pixels": out.n_saturated})


@dataclass(frozen=True, slots=True, kw_only=True)
class SuperbiasStep:
    name: ClassVar[str] = "superbias"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.SUPERBIAS,)
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ctx.ref(RefType.SUPERBIAS)
        ctx.prepared["superbias"] = True

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        out = subtract_superbias(block.data, block.pixeldq, bias=ctx.ref_tile(RefType.SUPERBIAS, "SCI", block),
                                 bias_dq=ctx.ref_tile(RefType.SUPERBIAS, "DQ", block))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, _used(ctx, RefType.SUPERBIAS))


@dataclass(frozen=True, slots=True)
class DmsEdges:
    """Raw edge rows and columns of a ramp as read from the file (DMS orientation, nothing applied yet)."""

    rows: np.ndarray  # row indices (the first and last 4)
    cols: np.ndarray  # column indices
    row_data: np.ndarray  # (nints, ngroups, len(rows), nx) float32 DN
    col_data: np.ndarray  # (nints, ngroups, ny, len(cols)) float32 DN
    pixeldq: np.ndarray  # (ny, nx) uint32 from the file (zeros if absent)


def _calibrated_edges(edges: DmsEdges, ctx: ExposureContext, fastaxis: int) -> RefpixEdges:
    """The edges with the steps before refpix applied (group scaling, mask, superbias), in readout frame."""
    scale = ctx.prepared.get("group_scale_factor", 1.0)
    factor = np.float32(scale if isinstance(scale, float) else 1.0)
    rows_d = edges.row_data * factor
    cols_d = edges.col_data * factor
    row_dq, col_dq = edges.pixeldq[edges.rows], edges.pixeldq[:, edges.cols]
    everything = slice(0, edges.pixeldq.shape[0])
    # one read each: a column read loads every row anyway
    if "dq_init" in ctx.prepared:
        mask = ctx.ref(RefType.MASK).read("DQ", everything)
        row_dq, col_dq = row_dq | mask[edges.rows], col_dq | mask[:, edges.cols]
    if "superbias" in ctx.prepared:
        bias = np.nan_to_num(ctx.ref(RefType.SUPERBIAS).read("SCI", everything), nan=0.0)
        rows_d, cols_d = rows_d - bias[edges.rows], cols_d - bias[:, edges.cols]
    if abs(fastaxis) == 1:
        return RefpixEdges(rows_d, cols_d, row_dq, col_dq)
    return RefpixEdges(np.swapaxes(cols_d, -1, -2), np.swapaxes(rows_d, -1, -2), col_dq.T, row_dq.T)


@dataclass(frozen=True, slots=True, kw_only=True)
class RefpixStep:
    """NIR reference-pixel correction; computed once from the edges in ``prepare``, applied per block."""

    name: ClassVar[str] = "refpix"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0
    odd_even_columns: bool = True
    use_side_ref_pixels: bool = True
    side_smoothing_length: int = 11
    side_gain: float = 1.0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        if ctx.is_miri or not isinstance(edges, DmsEdges):
            ctx.prepared["refpix"] = None
            return
        fastaxis = header_int(ctx.header, "FASTAXIS", default=1)
        ctx.prepared["refpix"] = refpix_correction(
            _calibrated_edges(edges, ctx, fastaxis), fastaxis=fastaxis,
            noutputs=header_int(ctx.header, "NOUTPUTS", default=1),
            odd_even_columns=self.odd_even_columns, use_side_ref_pixels=self.use_side_ref_pixels,
            side_smoothing_length=self.side_smoothing_length, side_gain=self.side_gain)

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        correction = ctx.prepared.get("refpix")
        if not isinstance(correction, RefpixCorrection) or not correction.applied:
            return StepOutcome(block, _SKIP, note="no usable reference pixels" if not ctx.is_miri else "MIRI")
        data = apply_refpix(block.data, correction, rows=block.rows, cols=block.cols)
        return StepOutcome(block.replace(data=data), _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearityStep:
    name: ClassVar[str] = "linearity"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.LINEARITY,)
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ctx.ref(RefType.LINEARITY)

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        out = correct_linearity(block.data, block.groupdq, block.pixeldq,
                                coeffs=ctx.ref_tile(RefType.LINEARITY, "COEFFS", block),
                                lin_dq=ctx.ref_tile(RefType.LINEARITY, "DQ", block))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, _used(ctx, RefType.LINEARITY),
                           {"no_correction_pixels": out.n_no_correction})


@dataclass(frozen=True, slots=True, kw_only=True)
class DarkCurrentStep:
    """Subtracts the dark averaged to the science readout (:func:`~streamcal.kernels.ramp.dark_current.subtract_dark`
    on each tile; ``prepare`` decides once whether the dark's readout allows it)."""

    name: ClassVar[str] = "dark_current"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.DARK,)
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ref = ctx.ref(RefType.DARK)
        nframes = header_int(ref.header, "NFRAMES", default=1)
        groupgap = header_int(ref.header, "GROUPGAP", default=0)
        ctx.prepared["dark"] = nframes <= ctx.nframes and groupgap <= ctx.groupgap

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        if not ctx.prepared.get("dark"):
            return StepOutcome(block, _SKIP, note="dark averaged more coarsely than the science")
        ref = ctx.ref(RefType.DARK)
        out = subtract_dark(block.data, block.pixeldq, dark=ref.read("SCI", block.rows, block.cols),
                            dark_dq=ref.read("DQ", block.rows, block.cols), nframes=ctx.nframes,
                            groupgap=ctx.groupgap, int_start=header_int(ctx.header, "INTSTART", default=1))
        return StepOutcome(block.replace(data=out.data, pixeldq=out.pixeldq), _DONE, _used(ctx, RefType.DARK))


@dataclass(frozen=True, slots=True, kw_only=True)
class _GroupFlagStep:
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstFrameStep(_GroupFlagStep):
    name: ClassVar[str] = "firstframe"

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        out = flag_first_frame(block.groupdq)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE if out.applied else _SKIP)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastFrameStep(_GroupFlagStep):
    name: ClassVar[str] = "lastframe"

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        out = flag_last_frame(block.groupdq)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE if out.applied else _SKIP)


@dataclass(frozen=True, slots=True, kw_only=True)
class RscdStep(_GroupFlagStep):
    name: ClassVar[str] = "rscd"
    int1_skip: int = 0
    int2_skip: int = 1

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
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

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        ctx.ref(RefType.GAIN)
        ctx.ref(RefType.READNOISE)

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]:
        if block.data.shape[1] < 3:
            return StepOutcome(block, _SKIP, note="fewer than 3 groups")
        out = detect_jumps(block.data, block.groupdq, gain=ctx.ref_tile(RefType.GAIN, "SCI", block),
                           readnoise=ctx.ref_tile(RefType.READNOISE, "SCI", block), nframes=ctx.nframes,
                           rejection_threshold=self.rejection_threshold,
                           three_group_threshold=self.three_group_rejection_threshold,
                           four_group_threshold=self.four_group_rejection_threshold,
                           flag_4_neighbors=self.flag_4_neighbors,
                           max_jump_to_flag_neighbors=self.max_jump_to_flag_neighbors,
                           min_jump_to_flag_neighbors=self.min_jump_to_flag_neighbors)
        return StepOutcome(block.replace(groupdq=out.groupdq), _DONE, _used(ctx, RefType.GAIN, RefType.READNOISE),
                           {"jumps": out.n_jumps, "neighbors": out.n_neighbors})
