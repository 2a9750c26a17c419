"""What calwebb_coron3's steps pass along (issue 12, ``jwst_spec.md`` §1.8): each step adds one product.

:class:`CoronInput` (the science and PSF-reference ``_calints`` of one ASN product) → stack_refs →
:class:`CoronStack` (+ the ``_psfstack`` cube) → align_refs → :class:`CoronAligned` (+ one ``_psfalign``
hypercube per science exposure and the pixels KLIP may use) → klip → :class:`CoronSubtracted` (+ one ``_psfsub``
cube per science exposure). Arrays are never modified after construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamcal.models.image import ImageData

__all__ = ["AlignedRefs", "CoronAligned", "CoronInput", "CoronStack", "CoronSubtracted"]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class CoronInput:
    """The ``_calints`` cubes of one coron3 product: science and PSF-reference exposures, in ASN order."""

    science: tuple[ImageData, ...]
    psf: tuple[ImageData, ...]


@dataclass(frozen=True, slots=True)
class CoronStack:
    """The science exposures and every reference integration stacked into one cube (``_psfstack``: SCI, ERR,
    DQ of shape (N_psf, ny, nx), N_psf = Σ NINTS of the references)."""

    science: tuple[ImageData, ...]
    psfstack: ImageData


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignedRefs:
    """The references aligned to one science exposure (``_psfalign``: (nints, N_psf, ny, nx)).

    ``shifts`` (N_psf, 2) are the (dx, dy) px applied to each reference, ``scales`` (N_psf,) the brightness
    factors (the same for every integration, as jwst's: fitted to the first); ``region`` (ny, nx) the pixels KLIP
    uses (outside the coronagraph core, off the edges, good in every science integration).
    """

    root: str
    sci: F32
    err: F32
    dq: npt.NDArray[np.uint32]
    shifts: npt.NDArray[np.float64]
    scales: npt.NDArray[np.float64]
    region: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CoronAligned:
    """The science exposures, the reference stack, and the references aligned to each science exposure."""

    science: tuple[ImageData, ...]
    psfstack: ImageData
    aligned: tuple[AlignedRefs, ...]


@dataclass(frozen=True, slots=True)
class CoronSubtracted:
    """The PSF-subtracted science exposures (``_psfsub`` cubes, WCS of their members) and what made them."""

    psfsub: tuple[ImageData, ...]
    psfstack: ImageData
    aligned: tuple[AlignedRefs, ...]
