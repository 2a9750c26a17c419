"""Spectroscopic kernels (stage 2 and 3 spectroscopy, issue 11): extraction of spectral traces and their
photometric calibration. No I/O; inputs are never modified."""

from streamcal.kernels.spec.extract1d import BoxcarAperture, Extraction, extract_boxcar
from streamcal.kernels.spec.photom import apply_conversion, spectral_conversion

__all__ = ["BoxcarAperture", "Extraction", "apply_conversion", "extract_boxcar", "spectral_conversion"]
