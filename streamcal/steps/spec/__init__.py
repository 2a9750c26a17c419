"""Spectroscopic steps (calwebb_spec2, issue 11): the single-trace, IFU and MOS modes."""

from streamcal.steps.spec.ifu import CubeBuildStep, IfuCube, IfuImage
from streamcal.steps.spec.kinds import SpectralImage, SpectralProduct
from streamcal.steps.spec.mos import MultiSlit, MultiSpectrum, Spec2Extract2dStep, Spec2SrctypeStep
from streamcal.steps.spec.single_trace import (
    Extract1dStep,
    SpecAssignWcsStep,
    SpecFlatFieldStep,
    SpecPhotomStep,
    Spectrum,
    TraceImage,
)
from streamcal.steps.spec.spec2_steps import (
    Spec2AssignWcsStep,
    Spec2Extract1dStep,
    Spec2FlatFieldStep,
    Spec2PhotomStep,
)

__all__ = ["CubeBuildStep", "Extract1dStep", "IfuCube", "IfuImage", "MultiSlit", "MultiSpectrum",
           "Spec2AssignWcsStep", "Spec2Extract1dStep", "Spec2Extract2dStep", "Spec2FlatFieldStep", "Spec2PhotomStep",
           "Spec2SrctypeStep", "SpecAssignWcsStep", "SpecFlatFieldStep", "SpecPhotomStep",
           "SpectralImage", "SpectralProduct", "Spectrum", "TraceImage"]
