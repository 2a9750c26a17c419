"""Spectroscopic steps (calwebb_spec2, issue 11): the single-trace modes for now."""

from streamcal.steps.spec.single_trace import (
    Extract1dStep,
    SpecAssignWcsStep,
    SpecFlatFieldStep,
    SpecPhotomStep,
    Spectrum,
    TraceImage,
)

__all__ = ["Extract1dStep", "SpecAssignWcsStep", "SpecFlatFieldStep", "SpecPhotomStep", "Spectrum", "TraceImage"]
