"""In-memory models by data shape, and the header readers every layer uses.

A model is what steps transform: a ramp tile and its rates (:mod:`streamcal.models.ramp`), a calibrated image
or cube and the set of them stage 3 combines (:mod:`streamcal.models.image`). Models are frozen; a step returns
a new one. The spectral layout of a single-trace spectroscopic mode and its SPECWCS reference live in
:mod:`streamcal.models.spectral` (imported by name: it needs no simulator). Files become models (and models
files) through :mod:`streamcal.datamodels`.

The image names are loaded on first use: the header readers (:mod:`streamcal.models.keywords`) are imported by
the routing code of every process, which should not pay for astropy's WCS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from streamcal.models.keywords import header_bool, header_float, header_int, header_str

if TYPE_CHECKING:
    from streamcal.models.image import ImageData, ImageSet, good_mask, read_image, write_image

__all__ = [
    "ImageData",
    "ImageSet",
    "good_mask",
    "header_bool",
    "header_float",
    "header_int",
    "header_str",
    "read_image",
    "write_image",
]

_IMAGE = frozenset({"ImageData", "ImageSet", "good_mask", "read_image", "write_image"})


def __getattr__(name: str) -> object:
    if name in _IMAGE:
        return getattr(importlib.import_module("streamcal.models.image"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
