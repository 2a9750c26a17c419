"""flat_field (``jwst_spec.md`` §5.3, §4.12): divide by the flat and account for its error — two conventions, as
jwst's FlatFieldStep has for its two kinds of model.

- :func:`flat_field` (images and cubes, §5.3): NaN or zero flat → NO_FLAT_FIELD|DO_NOT_USE and flat = 1
  wherever NO_FLAT_FIELD is set; SCI /= F, VAR_POISSON and VAR_RNOISE /= F², VAR_FLAT = SCI_after²·ERR_F²,
  ERR = √(ΣVAR); then :func:`match_nans_and_flags` (§3).
- :func:`flat_field_guider` (guider rates, §4.12): no VAR arrays; a flat that is not finite or not positive
  gives NO_FLAT_FIELD|DO_NOT_USE and a NaN rate; elsewhere SCI/F and ERR = √((ERR/F)² + (SCI_after·ERR_F/F)²).

Numpy only (the guider, a stage-1 pipeline, imports this without the imaging stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError

if TYPE_CHECKING:
    from streamcal.models.image import ImageData

__all__ = ["FlatResult", "GuiderFlatResult", "flat_field", "flat_field_guider", "match_nans_and_flags"]

F32 = npt.NDArray[np.float32]

_DNU = np.uint32(Pixel.DO_NOT_USE)
_NO_FLAT = np.uint32(Pixel.NO_FLAT_FIELD)


class FlatResult(NamedTuple):
    """flat_field: the new image and what it counted."""

    image: ImageData
    counts: dict[str, int]


class GuiderFlatResult(NamedTuple):
    """flat_field on guider rates."""

    sci: F32
    err: F32
    dq: npt.NDArray[np.uint32]


def match_nans_and_flags(image: ImageData) -> ImageData:
    """§3: a non-finite SCI, ERR or VAR_* value sets DO_NOT_USE; DO_NOT_USE makes all of them NaN."""
    planes = [image.sci, image.err, image.var_poisson, image.var_rnoise]
    if image.var_flat is not None:
        planes.append(image.var_flat)
    invalid = np.zeros(image.sci.shape, bool)
    for a in planes:
        invalid |= ~np.isfinite(a)
    dq = image.dq | np.where(invalid, _DNU, np.uint32(0))
    bad = (dq & _DNU) != 0

    def nan(a: F32 | None) -> F32 | None:
        return None if a is None else np.where(bad, np.float32(np.nan), a).astype(np.float32)

    return image.replace(dq=dq.astype(np.uint32), sci=nan(image.sci), err=nan(image.err),
                         var_poisson=nan(image.var_poisson), var_rnoise=nan(image.var_rnoise),
                         var_flat=nan(image.var_flat))


def flat_field(image: ImageData, flat_sci: npt.ArrayLike, flat_err: npt.ArrayLike | None = None,
               flat_dq: npt.ArrayLike | None = None) -> FlatResult:
    """Divide by the flat (§5.3) and propagate the variances; then apply the NaN/DO_NOT_USE rule.

    Parameters
    ----------
    image : ImageData
        DN/s, 2-D or a cube (the flat applies to every plane).
    flat_sci, flat_err, flat_dq : array_like, shape (ny, nx)
        The FLAT reference cut to the subarray; a missing ERR is 0, a missing DQ is 0.
    """
    flat = np.asarray(flat_sci, dtype=np.float32)
    if flat.shape != image.shape:
        raise BadDataShapeError(f"{image.root}: flat is {flat.shape}, the image is {image.shape}")
    ferr = np.zeros(image.shape, np.float32) if flat_err is None else np.asarray(flat_err, dtype=np.float32)
    fdq = np.zeros(image.shape, np.uint32) if flat_dq is None else np.asarray(flat_dq, dtype=np.uint32)
    unusable = ~np.isfinite(flat) | (flat == 0)
    fdq = fdq | np.where(unusable, _NO_FLAT | _DNU, np.uint32(0))
    no_flat = (fdq & _NO_FLAT) != 0
    flat = np.where(no_flat, np.float32(1.0), flat)
    flat2 = np.square(flat)
    sci = (image.sci / flat).astype(np.float32)
    var_poisson = (image.var_poisson / flat2).astype(np.float32)
    var_rnoise = (image.var_rnoise / flat2).astype(np.float32)
    var_flat = (np.square(sci) * np.square(ferr)).astype(np.float32)
    err = np.sqrt(var_poisson + var_rnoise + var_flat).astype(np.float32)
    out = match_nans_and_flags(image.replace(sci=sci, err=err, dq=(image.dq | fdq).astype(np.uint32),
                                             var_poisson=var_poisson, var_rnoise=var_rnoise, var_flat=var_flat))
    counts = {"n_no_flat_field": int(np.count_nonzero(no_flat)),
              "n_do_not_use": int(np.count_nonzero(out.dq & _DNU))}
    return FlatResult(out, counts)


def flat_field_guider(rate: npt.ArrayLike, err: npt.ArrayLike, dq: npt.ArrayLike, flat: npt.ArrayLike,
                      flat_err: npt.ArrayLike | None = None) -> GuiderFlatResult:
    """Flat-field guider rates (§4.12; see the module docstring for the convention).

    Parameters
    ----------
    rate, err : ndarray, shape (nints, ny, nx) or (ny, nx), float32
    dq : ndarray, shape (ny, nx), uint32
    flat, flat_err : ndarray, shape (ny, nx)
        The FLAT reference cut to the subarray; a missing ERR counts as 0.
    """
    flat = np.asarray(flat)
    rate, err = np.asarray(rate), np.asarray(err)
    good = np.isfinite(flat) & (flat > 0)
    safe = np.where(good, flat, 1.0).astype(np.float32)
    out = rate / safe
    rel = np.zeros_like(flat) if flat_err is None else np.where(good, np.asarray(flat_err) / safe, 0.0)
    out_err = np.sqrt((err / safe) ** 2 + (out * rel) ** 2)
    bad = (~good).astype(np.uint32) * np.uint32(Pixel.NO_FLAT_FIELD | Pixel.DO_NOT_USE)
    return GuiderFlatResult(np.where(good, out, np.nan).astype(np.float32), out_err.astype(np.float32),
                            np.asarray(dq) | bad)
