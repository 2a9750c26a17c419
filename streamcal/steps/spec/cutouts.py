"""Cutouts of an exposure — MOS slitlets, WFSS source traces, lamp apertures — and what every kind does alike:
cut them out (extract_2d) and flat-field each with its part of the FLAT."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.image.flat_field import flat_field
from streamcal.models.image import ImageData
from streamcal.references import ReferenceFile

__all__ = ["Cutout", "cutout", "flat_cutouts", "masked_cutout"]


class Cutout(Protocol):
    """A cutout (a dataclass): its image and where it sits in the exposure (1-based)."""

    @property
    def image(self) -> ImageData: ...

    @property
    def xstart(self) -> int: ...

    @property
    def ystart(self) -> int: ...


_C = TypeVar("_C", bound=Cutout)


def cutout(image: ImageData, rows: slice, cols: slice) -> ImageData:
    """The ``rows`` × ``cols`` part of an exposure's planes (copies), its primary's SUBSTRT1/2 and SUBSIZE1/2
    saying where it lies on the full frame."""

    def part(a: npt.NDArray[np.generic] | None) -> npt.NDArray[np.generic] | None:
        return None if a is None else np.array(a[..., rows, cols])

    x0 = int(str(image.primary.get("SUBSTRT1", 1))) + (cols.start or 0)
    y0 = int(str(image.primary.get("SUBSTRT2", 1))) + (rows.start or 0)
    return image.replace(sci=part(image.sci), err=part(image.err), dq=part(image.dq),
                         var_poisson=part(image.var_poisson), var_rnoise=part(image.var_rnoise),
                         var_flat=part(image.var_flat), area=part(image.area),
                         primary={**image.primary, "SUBSTRT1": x0, "SUBSTRT2": y0, "SUBSIZE1": cols.stop - cols.start,
                                  "SUBSIZE2": rows.stop - rows.start})


def masked_cutout(image: ImageData, inside: npt.NDArray[np.bool_], wavelength: npt.NDArray[np.float64]
                  ) -> tuple[ImageData, int, int, npt.NDArray[np.float64]] | None:
    """The bounding box of an aperture's pixels cut out of an exposure (extract_2d).

    Parameters
    ----------
    image : ImageData
        The exposure, shape (ny, nx).
    inside : ndarray, shape (ny, nx), bool
        The aperture's pixels.
    wavelength : ndarray, shape (nx,), float
        The aperture's wavelength per column of the exposure (µm).

    Returns
    -------
    (cutout, xstart, ystart, wavelength) or None
        The cutout with its pixels outside the aperture flagged DO_NOT_USE | NON_SCIENCE, where it starts in the
        exposure (1-based), and its wavelength per pixel (NaN outside); None when no pixel is inside.
    """
    if not inside.any():
        return None
    rows_hit, cols_hit = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    rows, cols = slice(int(rows_hit[0]), int(rows_hit[-1]) + 1), slice(int(cols_hit[0]), int(cols_hit[-1]) + 1)
    cut = cutout(image, rows, cols)
    strip = inside[rows, cols]
    outside = np.uint32(Pixel.DO_NOT_USE | Pixel.NON_SCIENCE)
    cut = cut.replace(dq=np.where(strip, cut.dq, cut.dq | outside).astype(np.uint32))
    wave = np.where(strip, wavelength[cols][None, :], np.nan)
    return cut, cols.start + 1, rows.start + 1, wave


def flat_cutouts(cutouts: Sequence[_C], flat: ReferenceFile) -> tuple[list[_C], dict[str, int]]:
    """flat_field: each cutout divided by its part of the FLAT (the exposure's subarray, as the store cuts it);
    the counts summed over the cutouts."""
    out: list[_C] = []
    counts: dict[str, int] = {}
    err, dq = flat.arrays.get("ERR"), flat.arrays.get("DQ")
    for item in cutouts:
        ny, nx = item.image.shape
        box = np.s_[item.ystart - 1:item.ystart - 1 + ny, item.xstart - 1:item.xstart - 1 + nx]
        result = flat_field(item.image, flat["SCI"][box], None if err is None else err[box],
                            None if dq is None else dq[box])
        for key, value in result.counts.items():
            counts[key] = counts.get(key, 0) + int(value)
        out.append(dataclasses.replace(item, image=result.image))  # type: ignore[type-var]
    return out, counts
