"""Photometric calibration of spectra (jwst's photom step for spectroscopic modes, jwst_spec §5.4).

A spectroscopic PHOTOM row holds a scalar ``photmj`` (MJy per DN/s for a point source) and a relative response
tabulated against wavelength (``nelem`` valid entries of the fixed-length ``wavelength`` / ``relresponse``
arrays, zero-padded beyond). The conversion of a pixel at wavelength λ is ``photmj × relresponse(λ)``, with the
response interpolated linearly; a pixel whose wavelength lies outside the tabulated range (or is NaN: off the
trace) gets NaN, which the step flags DO_NOT_USE, as jwst does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.errors import MissingReferenceError
from streamcal.models.image import ImageData

__all__ = ["apply_conversion", "spectral_conversion"]


def spectral_conversion(row: np.void | Mapping[str, object], wavelength_um: npt.ArrayLike, *,
                        reference: str = "photom") -> npt.NDArray[np.float64]:
    """MJy per DN/s at each wavelength (µm) for a point source; NaN outside the row's wavelength range.

    Raises
    ------
    MissingReferenceError
        The row lacks photmj/nelem/wavelength/relresponse, or its table is not increasing and positive. Not
        retriable (the reference is wrong for a spectroscopic mode).
    """
    try:
        photmj = float(np.asarray(row["photmj"]))
        nelem = int(np.asarray(row["nelem"]))
        table_wave = np.asarray(row["wavelength"], dtype=np.float64)[:nelem]
        response = np.asarray(row["relresponse"], dtype=np.float64)[:nelem]
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise MissingReferenceError(f"{reference}: not a spectroscopic PHOTOM row ({exc})") from None
    if nelem < 2 or table_wave.size != nelem or response.size != nelem:
        raise MissingReferenceError(f"{reference}: a spectroscopic PHOTOM row needs at least 2 response values")
    if not (np.all(np.diff(table_wave) > 0) and np.all(response > 0) and photmj > 0):
        raise MissingReferenceError(f"{reference}: the response table must increase in wavelength and be positive")
    wave = np.asarray(wavelength_um, dtype=np.float64)
    inside = np.isfinite(wave) & (wave >= table_wave[0]) & (wave <= table_wave[-1])
    out = np.full(wave.shape, np.nan)
    out[inside] = photmj * np.interp(wave[inside], table_wave, response)
    return out


def apply_conversion(image: ImageData, factor: npt.ArrayLike, *, bunit: str) -> ImageData:
    """The image times a per-pixel conversion (broadcast against it): SCI and ERR by the factor, the variances
    by its square; a pixel whose factor is NaN (no response there) becomes NaN and DO_NOT_USE; BUNIT ``bunit``."""
    scale = np.asarray(factor)
    unusable = np.broadcast_to(~np.isfinite(scale), image.sci.shape)
    square = scale ** 2
    return image.replace(
        sci=(image.sci * scale).astype(np.float32), err=(image.err * np.abs(scale)).astype(np.float32),
        var_poisson=(image.var_poisson * square).astype(np.float32),
        var_rnoise=(image.var_rnoise * square).astype(np.float32),
        var_flat=None if image.var_flat is None else (image.var_flat * square).astype(np.float32),
        dq=np.where(unusable, image.dq | np.uint32(Pixel.DO_NOT_USE), image.dq).astype(np.uint32),
        sci_header={**image.sci_header, "BUNIT": bunit})
