"""In-memory models by data shape, and the header readers every layer uses.

A model is what steps transform: a ramp (``RampBlock``, ``RateBlock``: :mod:`streamcal.models.ramp`), a
calibrated image or cube (:class:`ImageData`). Models are frozen; a step returns a new one. Files become
models (and models files) through :mod:`streamcal.datamodels`.
"""

from __future__ import annotations

from streamcal.models.image import ImageData, good_mask, read_image, write_image
from streamcal.models.keywords import header_bool, header_float, header_int, header_str

__all__ = [
    "ImageData",
    "good_mask",
    "header_bool",
    "header_float",
    "header_int",
    "header_str",
    "read_image",
    "write_image",
]
