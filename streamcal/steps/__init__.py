"""Steps: frozen parameter dataclasses with declared reference types and one ``apply`` each."""

from __future__ import annotations

from streamcal.steps.base import (
    STATUS_KEYWORDS,
    ExposureContext,
    RampBlock,
    StepOutcome,
    StepRecord,
    StepStatus,
)
from streamcal.steps.ramp_steps import (
    DarkCurrentStep,
    DmsEdges,
    DQInitStep,
    FirstFrameStep,
    GroupScaleStep,
    JumpStep,
    LastFrameStep,
    LinearityStep,
    RefpixStep,
    RscdStep,
    SaturationStep,
    SuperbiasStep,
)
from streamcal.steps.rate_steps import GainScaleStep, RampFitStep, RateBlock

__all__ = [
    "STATUS_KEYWORDS",
    "DQInitStep",
    "DarkCurrentStep",
    "DmsEdges",
    "ExposureContext",
    "FirstFrameStep",
    "GainScaleStep",
    "GroupScaleStep",
    "JumpStep",
    "LastFrameStep",
    "LinearityStep",
    "RampBlock",
    "RampFitStep",
    "RateBlock",
    "RefpixStep",
    "RscdStep",
    "SaturationStep",
    "StepOutcome",
    "StepRecord",
    "StepStatus",
    "SuperbiasStep",
]
