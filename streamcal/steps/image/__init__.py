"""Image steps (stage 2): one exposure's image or cube — bkg_subtract, assign_wcs, flat_field, photom, and the
quick-look resample of calwebb_image2."""

from __future__ import annotations

from streamcal.steps.image.calibrate import (
    AssignWcsStep,
    BkgSubtractStep,
    FlatFieldStep,
    ImageContext,
    PhotomStep,
)
from streamcal.steps.image.resample import RESAMPLE_EXP_TYPES, QuicklookResampleStep

__all__ = [
    "RESAMPLE_EXP_TYPES",
    "AssignWcsStep",
    "BkgSubtractStep",
    "FlatFieldStep",
    "ImageContext",
    "PhotomStep",
    "QuicklookResampleStep",
]
