"""Ramp steps (stage 1): detector corrections on ramp tiles, ramp fitting, and the guider's steps."""

from __future__ import annotations

from streamcal.steps.ramp.context import RampContext
from streamcal.steps.ramp.detector import (
    DarkCurrentStep,
    DQInitStep,
    FirstFrameStep,
    GroupScaleStep,
    JumpStep,
    LastFrameStep,
    LinearityStep,
    PreparedRefpix,
    RefpixStep,
    RscdStep,
    SaturationStep,
    SuperbiasStep,
)
from streamcal.steps.ramp.fit import GainScaleStep, RampFitStep
from streamcal.steps.ramp.guider import GuiderCdsStep, GuiderFlatFieldStep

__all__ = [
    "DQInitStep",
    "DarkCurrentStep",
    "FirstFrameStep",
    "GainScaleStep",
    "GroupScaleStep",
    "GuiderCdsStep",
    "GuiderFlatFieldStep",
    "JumpStep",
    "LastFrameStep",
    "LinearityStep",
    "PreparedRefpix",
    "RampContext",
    "RampFitStep",
    "RefpixStep",
    "RscdStep",
    "SaturationStep",
    "SuperbiasStep",
]
