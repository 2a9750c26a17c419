"""Imaging stage 2 and 3: calibrated images in memory, their WCS, and the steps that work on them.

``ImageData`` is the in-memory form of a ``_rate``/``_cal``/``_crf`` (2-D) or ``_rateints``/``_calints``
(3-D) product; ``imaging_wcs`` is the distortion-free TAN WCS of ``jwst_spec.md`` §5.1.
"""

from streamcal.imaging.model import ImageData, read_image, write_image
from streamcal.imaging.wcs import (
    NOMINAL_PIXEL_SCALE,
    footprint,
    imaging_wcs,
    pixel_scale_arcsec,
    s_region,
    wcs_keywords,
)

__all__ = [
    "NOMINAL_PIXEL_SCALE",
    "ImageData",
    "footprint",
    "imaging_wcs",
    "pixel_scale_arcsec",
    "read_image",
    "s_region",
    "wcs_keywords",
    "write_image",
]
