"""Spectroscopic kernels (stage 2 and 3 spectroscopy, issue 11): extraction of spectral traces. No I/O; inputs
are never modified."""

from streamcal.kernels.spec.extract1d import BoxcarAperture, Extraction, extract_boxcar

__all__ = ["BoxcarAperture", "Extraction", "extract_boxcar"]
