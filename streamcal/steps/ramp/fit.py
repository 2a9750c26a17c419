"""Stage-1 steps that turn a ramp tile into rates (ramp_fit) and rescale them (gain_scale)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from streamcal.errors import ConfigError
from streamcal.kernels.ramp.gain_scale import scale_gain
from streamcal.kernels.ramp.ramp_fit import fit_ramps
from streamcal.models.keywords import header_float
from streamcal.models.ramp import RampBlock, RateBlock
from streamcal.references import RefType
from streamcal.steps.base import StepOutcome, StepStatus
from streamcal.steps.ramp.context import RampContext

__all__ = ["GainScaleStep", "RampFitStep"]

_WEIGHTINGS = ("optimal",)


@dataclass(frozen=True, slots=True, kw_only=True)
class RampFitStep:
    """OLS ramp fitting with optimal weighting (``streamcal.kernels.ramp.ramp_fit``): a ramp tile → its rates."""

    name: ClassVar[str] = "ramp_fit"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.GAIN, RefType.READNOISE)
    halo: ClassVar[int] = 0
    weighting: str = "optimal"
    # jwst's RampFitStep suppresses one-group ramps by default (stcal's bare ramp_fit does not)
    suppress_one_group: bool = True

    def __post_init__(self) -> None:
        if self.weighting not in _WEIGHTINGS:
            raise ConfigError(f"ramp_fit weighting {self.weighting!r} is not supported (only 'optimal')")

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RateBlock]:
        fit = fit_ramps(block.data, block.groupdq, block.pixeldq,
                        readnoise=ctx.ref_tile(RefType.READNOISE, "SCI", block),
                        gain=ctx.ref_tile(RefType.GAIN, "SCI", block),
                        frame_time=header_float(ctx.header, "TFRAME"), group_time=header_float(ctx.header, "TGROUP"),
                        nframes=ctx.nframes, groupgap=ctx.groupgap, suppress_one_group=self.suppress_one_group)
        return StepOutcome(RateBlock(fit, block.pixeldq, block.rows, cols=block.cols), StepStatus.COMPLETE,
                           ctx.used(*self.reference_types), {"general_fits": fit.n_general})


def _gainfact(ctx: RampContext) -> float | None:
    """GAINFACT of the header, else of the gain reference's header; None when neither has one."""
    value = ctx.header.get("GAINFACT")
    if value in (None, ""):
        gain = ctx.refs.get(RefType.GAIN)
        value = None if gain is None else gain.header.get("GAINFACT")
    return None if value in (None, "") else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class GainScaleStep:
    """Multiplies rates by GAINFACT (header, else the gain reference); skipped when there is none."""

    name: ClassVar[str] = "gain_scale"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    halo: ClassVar[int] = 0

    def apply(self, rates: RateBlock, ctx: RampContext) -> StepOutcome[RateBlock]:
        factor = _gainfact(ctx)
        if factor is None or factor == 1.0:
            return StepOutcome.skipped(rates, "no GAINFACT")
        f = rates.fit
        a = scale_gain(f.rate, f.err, f.var_poisson, f.var_rnoise, gainfact=factor)
        b = scale_gain(f.rateints, f.err_ints, f.var_poisson_ints, f.var_rnoise_ints, gainfact=factor)
        fit = f._replace(rate=a.sci, err=a.err, var_poisson=a.var_poisson, var_rnoise=a.var_rnoise,
                         rateints=b.sci, err_ints=b.err, var_poisson_ints=b.var_poisson, var_rnoise_ints=b.var_rnoise)
        return StepOutcome(RateBlock(fit, rates.pixeldq, rates.rows, rates.cols), StepStatus.COMPLETE)
