"""The imaging WCS of ``jwst_spec.md`` §5.1: a distortion-free TAN projection from the SCI pointing keywords.

CRPIX = CRPIX1/2 (else XREF_SCI/YREF_SCI, 1-based), CRVAL = CRVAL1/2 (else RA_REF/DEC_REF); the PC matrix is
read from PC1_1…PC2_2 when the header has them (DMS writes them at level 1b) and otherwise built from
rel = ROLL_REF − VPARITY·V3I_YANG as [[p·cos rel, sin rel], [−p·sin rel, cos rel]]; CDELT from the header or
the instrument's nominal pixel scale. The detector distortion is ignored (several pixels at the edges of a
full frame in real data).

Everything returns :class:`astropy.wcs.WCS` with ``pixel_shape`` set, which is what ``drizzle.utils.calc_pixmap``
and photutils accept. Pixel coordinates are 0-based numpy ``(x, y)`` as in astropy's ``*_values`` methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from streamcal.errors import MissingKeywordError
from streamcal.models.image import ImageData
from streamcal.models.keywords import header_float, header_int, header_str

__all__ = ["NOMINAL_PIXEL_SCALE", "footprint", "imaging_wcs", "pixel_scale_arcsec", "s_region", "wcs_keywords",
           "with_header_wcs"]

#: Nominal pixel scale, arcsec, when the header has no CDELT ([U] in the spec; NIRCam by channel).
NOMINAL_PIXEL_SCALE: MappingProxyType[str, float] = MappingProxyType({
    "NIRCAM_SHORT": 0.031, "NIRCAM_LONG": 0.063, "NIRISS": 0.0656, "MIRI": 0.11, "FGS": 0.069, "NIRSPEC": 0.10,
})


def pixel_scale_arcsec(primary: Mapping[str, object]) -> float:
    """The nominal pixel scale of the exposure's instrument (NIRCam: by DETECTOR's channel)."""
    instrument = header_str(primary, "INSTRUME") or ""
    if instrument == "NIRCAM":
        detector = header_str(primary, "DETECTOR") or ""
        key = "NIRCAM_LONG" if detector.endswith("LONG") or detector.endswith("5") else "NIRCAM_SHORT"
        return NOMINAL_PIXEL_SCALE[key]
    if instrument not in NOMINAL_PIXEL_SCALE:
        raise MissingKeywordError("INSTRUME", message=f"no nominal pixel scale for INSTRUME={instrument!r}")
    return NOMINAL_PIXEL_SCALE[instrument]


def _value(header: Mapping[str, object], key: str, fallback: str, source: str) -> float:
    if header.get(key) is not None:
        return header_float(header, key, source=source)
    if header.get(fallback) is not None:
        return header_float(header, fallback)
    raise MissingKeywordError(key, source, "SCI", message=f"{source}: the SCI header has neither {key} nor "
                              f"{fallback}; cannot build a WCS")


def _pc(header: Mapping[str, object], source: str) -> npt.NDArray[np.float64]:
    keys = ("PC1_1", "PC1_2", "PC2_1", "PC2_2")
    if all(header.get(k) is not None for k in keys):
        return np.array([[header_float(header, "PC1_1"), header_float(header, "PC1_2")],
                         [header_float(header, "PC2_1"), header_float(header, "PC2_2")]])
    for key in ("ROLL_REF", "V3I_YANG", "VPARITY"):
        if header.get(key) is None:
            raise MissingKeywordError(key, source, "SCI", message=f"{source}: no PC matrix and no {key} in the SCI "
                                      "header; cannot build a WCS")
    rel = math.radians(header_float(header, "ROLL_REF")
                       - header_int(header, "VPARITY") * header_float(header, "V3I_YANG"))
    p = header_int(header, "VPARITY")
    return np.array([[p * math.cos(rel), math.sin(rel)], [-p * math.sin(rel), math.cos(rel)]])


def imaging_wcs(sci_header: Mapping[str, object], shape: tuple[int, int], *,
                primary: Mapping[str, object] | None = None, source: str = "exposure") -> WCS:
    """The TAN WCS of an image of ``shape`` ``(ny, nx)`` from its SCI header.

    Raises
    ------
    MissingKeywordError
        Neither CRPIX nor XREF_SCI (etc.) is present. Not retriable.
    """
    crpix = (_value(sci_header, "CRPIX1", "XREF_SCI", source), _value(sci_header, "CRPIX2", "YREF_SCI", source))
    crval = (_value(sci_header, "CRVAL1", "RA_REF", source), _value(sci_header, "CRVAL2", "DEC_REF", source))
    if sci_header.get("CDELT1") is not None and sci_header.get("CDELT2") is not None:
        cdelt = (header_float(sci_header, "CDELT1"), header_float(sci_header, "CDELT2"))
    else:
        scale = pixel_scale_arcsec(primary or {}) / 3600.0
        cdelt = (scale, scale)
    wcs = WCS(naxis=2)
    wcs.wcs.crpix = crpix
    wcs.wcs.crval = crval
    wcs.wcs.cdelt = cdelt
    wcs.wcs.pc = _pc(sci_header, source)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    wcs.pixel_shape = (int(shape[1]), int(shape[0]))
    return wcs


def with_header_wcs(image: ImageData, *, source: str | None = None) -> ImageData:
    """``image`` with :attr:`ImageData.wcs` set to the TAN WCS of its SCI header (a ``_cal`` read back).

    Raises
    ------
    MissingKeywordError
        The SCI header lacks the pointing keywords. Not retriable.
    """
    return image.replace(wcs=imaging_wcs(image.sci_header, image.shape, primary=image.primary,
                                         source=source or image.root))


def wcs_keywords(wcs: WCS) -> dict[str, object]:
    """The FITS keywords of a TAN WCS for a SCI header (WCSAXES, CRPIX, CRVAL, CDELT, CTYPE, CUNIT, PC, RADESYS)."""
    w = wcs.wcs
    out: dict[str, object] = {"WCSAXES": 2}
    for i in (0, 1):
        n = i + 1
        out[f"CRPIX{n}"] = float(w.crpix[i])
        out[f"CRVAL{n}"] = float(w.crval[i])
        out[f"CDELT{n}"] = float(w.cdelt[i])
        out[f"CTYPE{n}"] = str(w.ctype[i])
        out[f"CUNIT{n}"] = "deg"
    pc = w.get_pc()
    out.update(PC1_1=float(pc[0, 0]), PC1_2=float(pc[0, 1]), PC2_1=float(pc[1, 0]), PC2_2=float(pc[1, 1]))
    out["RADESYS"] = "ICRS"
    return out


def footprint(wcs: WCS, shape: tuple[int, int] | None = None) -> npt.NDArray[np.float64]:
    """RA/Dec (deg) of the four outer pixel corners, ``(4, 2)``, counter-clockwise from (−0.5, −0.5)."""
    if shape is None:
        nx, ny = wcs.pixel_shape
    else:
        ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = wcs.pixel_to_world_values(x, y)
    return np.column_stack([ra, dec])


def s_region(wcs: WCS, shape: tuple[int, int] | None = None) -> str:
    """The S_REGION keyword: ``POLYGON ICRS ra1 dec1 ... ra4 dec4``."""
    corners = footprint(wcs, shape)
    return "POLYGON ICRS " + " ".join(f"{ra:.8f} {dec:.8f}" for ra, dec in corners)
