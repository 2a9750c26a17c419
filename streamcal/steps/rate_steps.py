"""Stage-1 steps that turn a ramp block into rates (ramp_fit) and rescale them (gain_scale)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from streamcal.kernels.ramp.gain_scale import scale_gain
from streamcal.kernels.ramp.ramp_fit import RampFitResult, fit_ramps
from streamcal.models.keywords import header_float
from streamcal.references import RefType
from streamcal.steps.base import ExposureContext, RampBlock, StepOutcome, StepStatus

__all__ = ["GainScaleStep", "RampFitStep", "RateBlock"]


@dataclass(frozen=True, slots=True)
class RateBlock:
    """Rates of rows ``rows``: the exposure-level (``rate``) and per-integration (``ints``) ramp-fit products."""

    fit: RampFitResult
    rows: slice
    cols: slice = field(default_factory=lambda: slice(None))

    def scaled(self, factor: float) -> RateBlock:
        f = self.fit
        a = scale_gain(f.rate, f.err, f.var_poisson, f.var_rnoise, gainfact=factor)
        b = scale_gain(f.rateints, f.err_ints, f.var_poisson_ints, f.var_rnoise_ints, gainfact=factor)
        fit = f._replace(rate=a.sci, err=a.err, var_poisson=a.var_poisson, var_rnoise=a.var_rnoise,
                         rateints=b.sci, err_ints=b.err, var_poisson_ints=b.var_poisson, var_rnoise_ints=b.var_rnoise)
        return RateBlock(fit, self.rows, self.cols)


@dataclass(frozen=True, slots=True, kw_only=True)
class RampFitStep:
    """OLS ramp fitting with optimal weighting (``streamcal.kernels.ramp.ramp_fit``)."""

    name: ClassVar[str] = "ramp_fit"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.GAIN, RefType.READNOISE)
    halo: ClassVar[int] = 0
    weighting: str = "optimal"
    # jwst's RampFitStep suppresses one-group ramps by default (stcal's bare ramp_fit does not)
    suppress_one_group: bool = True

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        if self.weighting != "optimal":
            raise ValueError(f"ramp_fit weighting {self.weighting!r} is not supported (only 'optimal')")
        ctx.ref(RefType.GAIN)
        ctx.ref(RefType.READNOISE)

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RateBlock]:
        fit = fit_ramps(block.data, block.groupdq, block.pixeldq,
                        readnoise=ctx.ref_tile(RefType.READNOISE, "SCI", block),
                        gain=ctx.ref_tile(RefType.GAIN, "SCI", block),
                        frame_time=header_float(ctx.header, "TFRAME"), group_time=header_float(ctx.header, "TGROUP"),
                        nframes=ctx.nframes, groupgap=ctx.groupgap, suppress_one_group=self.suppress_one_group)
        used = tuple((r, ctx.ref(r).name) for r in self.reference_types)
        return StepOutcome(RateBlock(fit, block.rows, cols=block.cols), StepStatus.COMPLETE, used,
                           {"general_fits": fit.n_general})


@dataclass(frozen=True, slots=True, kw_only=True)
class GainScaleStep:
    """Multiplies rates by GAINFACT (header, else the gain reference); skipped when there is none."""

    name: ClassVar[str] = "gain_scale"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def prepare(self, ctx: ExposureContext, edges: object) -> None:
        value = ctx.header.get("GAINFACT")
        if value in (None, ""):
            gain = ctx.refs.get(RefType.GAIN)
            value = None if gain is None else gain.header.get("GAINFACT")
        ctx.prepared["gainfact"] = None if value in (None, "") else float(value)  # type: ignore[arg-type]

    def apply(self, block: RateBlock, ctx: ExposureContext) -> StepOutcome[RateBlock]:
        factor = ctx.prepared.get("gainfact")
        if not isinstance(factor, float) or factor == 1.0:
            return StepOutcome(block, StepStatus.SKIPPED, note="no GAINFACT")
        return StepOutcome(block.scaled(factor), StepStatus.COMPLETE)
