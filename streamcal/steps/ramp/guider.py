"""calwebb_guider's own steps (jwst_spec.md §1.3, §4.12): guider_cds and flat_field on guider rates.

Guider ramps are small (8² to 2048² pixels, 2–8 groups) and are calibrated whole: dq_init is stage 1's
(:class:`~streamcal.steps.ramp.detector.DQInitStep` on the whole ramp), guider_cds turns the ramp into
:class:`~streamcal.models.ramp.GuiderRates`, and flat_field divides them by the flat (guider products carry
no VAR arrays: the flat's error goes into ERR, :func:`~streamcal.kernels.image.flat_field.flat_field_guider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from streamcal.kernels.image.flat_field import flat_field_guider
from streamcal.kernels.ramp.guider_cds import guider_cds, guider_mode
from streamcal.models.keywords import header_float
from streamcal.models.ramp import GuiderRates, RampBlock
from streamcal.references import RefType
from streamcal.steps.base import StepOutcome, StepStatus
from streamcal.steps.ramp.context import RampContext

__all__ = ["GuiderCdsStep", "GuiderFlatFieldStep"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GuiderCdsStep:
    """Count rates by correlated double sampling, per integration (ID modes: the smaller of two)."""

    name: ClassVar[str] = "guider_cds"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.GAIN, RefType.READNOISE)

    def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[GuiderRates]:
        gain, readnoise = ctx.ref(RefType.GAIN), ctx.ref(RefType.READNOISE)
        cds = guider_cds(block.data, mode=guider_mode(ctx.exp_type), group_time=header_float(ctx.header, "TGROUP"),
                         gain=gain["SCI"], readnoise=readnoise["SCI"])
        return StepOutcome(GuiderRates(cds.rate, cds.err, block.pixeldq), StepStatus.COMPLETE,
                           ctx.used(*self.reference_types))


@dataclass(frozen=True, slots=True, kw_only=True)
class GuiderFlatFieldStep:
    """Divides guider rates by the FLAT reference (skipped when the store has none for the exposure)."""

    name: ClassVar[str] = "flat_field"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, rates: GuiderRates, ctx: RampContext) -> StepOutcome[GuiderRates]:
        flat = ctx.refs.get(RefType.FLAT)
        if flat is None:
            return StepOutcome.skipped(rates, "no flat reference")
        out = flat_field_guider(rates.rate, rates.err, rates.dq, flat["SCI"], flat.arrays.get("ERR"))
        return StepOutcome(GuiderRates(out.sci, out.err, out.dq), StepStatus.COMPLETE, ((RefType.FLAT, flat.name),))
