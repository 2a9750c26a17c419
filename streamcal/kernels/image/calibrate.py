"""The calibrations of stage 2 on :class:`ImageData`: background, WCS, photom (flat field: :mod:`.flat_field`).

Pure functions (``jwst_spec.md`` §5.1–5.4, §4.12): no I/O, inputs never modified, each returns a named value
with the new image and what it counted. The steps (:mod:`streamcal.steps.image`, :mod:`streamcal.steps.ramp`)
select the references and pass their arrays in.

- :func:`subtract_background` (§5.2): per-pixel sigma-clipped mean of the background exposures (cubes are
  clipped over integrations first, then across exposures), its error on the mean from ERR in quadrature
  over the kept values, DQ OR-ed over all of them; SCI −= background on every plane, DQ |= background DQ,
  ERR unchanged (as jwst ``background_sub``).
- :func:`assign_wcs` (§5.1): the distortion-free TAN WCS of :mod:`streamcal.kernels.image.wcs`; its keywords
  and S_REGION go into the SCI header and ``R_DISTOR = 'N/A'`` into the primary, saying that no
  distortion reference was applied.
- flat_field (§5.3, and the guider's convention): :mod:`streamcal.kernels.image.flat_field`.
- :func:`photom` (§5.4): the PHOTOM row for the exposure's optical path, SCI/ERR ×C, VAR_* ×C²,
  PHOTMJSR/PHOTUJA2/PIXAR_SR/PIXAR_A2/BUNIT in the SCI header, the AREA map attached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.stats import sigma_clip

from streamcal.errors import BadDataShapeError, MissingReferenceError
from streamcal.kernels.image.wcs import imaging_wcs, s_region, wcs_keywords
from streamcal.models.image import ImageData
from streamcal.models.keywords import header_str

__all__ = [
    "MJYSR_TO_UJYA2",
    "BackgroundParams",
    "BackgroundResult",
    "PhotomResult",
    "assign_wcs",
    "photom",
    "photom_row",
    "subtract_background",
]

F32 = npt.NDArray[np.float32]

#: 1 MJy/sr in µJy/arcsec²: 1e12 µJy over the arcsec² in a steradian, (180·3600/π)² = 4.2545170296152e10.
MJYSR_TO_UJYA2 = 1e12 / (180.0 * 3600.0 / math.pi) ** 2

_MISSING = frozenset({"", "N/A", "NONE", "ANY"})  # how a row (or header) says "no such element"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackgroundParams:
    """bkg_subtract parameters (jwst defaults): clipping threshold in σ and iterations (None: to convergence)."""

    sigma: float = 3.0
    maxiters: int | None = None


class BackgroundResult(NamedTuple):
    """bkg_subtract: the new image, the subtracted background ``(ny, nx)`` and its error, and the counts."""

    image: ImageData
    background: F32
    background_err: F32
    counts: dict[str, int]


class PhotomResult(NamedTuple):
    """photom: the image in MJy/sr and the conversion factor C used."""

    image: ImageData
    photmjsr: float


def _clipped_mean(sci: F32, err: F32, *, sigma: float, maxiters: int | None) -> tuple[F32, F32, int]:
    """Sigma-clipped mean over axis 0, its error (ERR in quadrature over kept values / n), values rejected."""
    finite = np.isfinite(sci)
    clipped = sigma_clip(np.ma.masked_array(sci, mask=~finite), sigma=sigma, maxiters=maxiters, axis=0,
                         masked=True, copy=True)
    keep = ~np.ma.getmaskarray(clipped)
    n = keep.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(keep, sci, 0.0).sum(axis=0, dtype=np.float64) / n
        var = np.where(keep, np.square(err, dtype=np.float64), 0.0).sum(axis=0)
        mean_err = np.sqrt(var) / n
    rejected = int(np.count_nonzero(finite & ~keep))
    return mean.astype(np.float32), mean_err.astype(np.float32), rejected


def subtract_background(image: ImageData, backgrounds: Sequence[ImageData], *, sigma: float = 3.0,
                        maxiters: int | None = None) -> BackgroundResult:
    """Subtract the sigma-clipped mean of the background exposures from every plane of ``image``.

    Parameters
    ----------
    image : ImageData
        The science exposure (2-D or a cube).
    backgrounds : sequence of ImageData
        At least one; each 2-D ``(ny, nx)`` or a cube ``(nints, ny, nx)`` of the same plane shape.
    sigma, maxiters
        Clipping threshold (σ about the median) and iterations (None: until nothing changes).

    Raises
    ------
    BadDataShapeError
        No background, or a background's plane shape differs from the science one. Not retriable.
    """
    if not backgrounds:
        raise BadDataShapeError(f"{image.root}: bkg_subtract needs at least one background exposure")
    means, errs, dq = [], [], np.zeros(image.shape, np.uint32)
    rejected = 0
    for bkg in backgrounds:
        if bkg.shape != image.shape:
            raise BadDataShapeError(f"{image.root}: background {bkg.root} is {bkg.shape}, the science is {image.shape}")
        if bkg.is_cube:  # clip over integrations within the exposure first
            mean, err, n = _clipped_mean(bkg.sci, bkg.err, sigma=sigma, maxiters=maxiters)
            rejected += n
            dq |= np.bitwise_or.reduce(bkg.dq, axis=0)
        else:
            mean, err = bkg.sci, bkg.err
            dq |= bkg.dq
        means.append(mean)
        errs.append(err)
    background, background_err, n = _clipped_mean(np.stack(means), np.stack(errs), sigma=sigma, maxiters=maxiters)
    rejected += n
    out = image.replace(sci=(image.sci - background).astype(np.float32), dq=image.dq | dq)
    counts = {"n_backgrounds": len(backgrounds), "n_values_rejected": rejected,
              "n_pixels_without_background": int(np.count_nonzero(~np.isfinite(background)))}
    return BackgroundResult(out, background, background_err, counts)


def assign_wcs(image: ImageData) -> ImageData:
    """Attach the distortion-free TAN WCS (§5.1): ``image.wcs``, and its keywords and S_REGION in the SCI header.

    Raises
    ------
    MissingKeywordError
        The SCI header lacks the pointing keywords. Not retriable.
    """
    wcs = imaging_wcs(image.sci_header, image.shape, primary=image.primary, source=image.root)
    sci_header = {**image.sci_header, **wcs_keywords(wcs), "S_REGION": s_region(wcs)}
    primary = {**image.primary, "R_DISTOR": "N/A"}  # no distortion reference applied (TAN only)
    return image.replace(sci_header=sci_header, primary=primary, wcs=wcs)


def _text(value: object) -> str:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip().upper()
    return "N/A" if text in _MISSING else text


def photom_row(table: np.ndarray, primary: Mapping[str, object], *, reference: str = "PHOTOM") -> np.void:
    """The row of a PHOTOM table for the exposure's optical path (§5.4).

    NIRCam/NIRISS match FILTER and PUPIL; MIRI FILTER and, when the table has the column, SUBARRAY (a row
    value GENERIC serves any subarray); NIRSpec FILTER and GRATING (jwst's IFU/MOS selection); FGS takes the
    single (first) row; other instruments match FILTER and PUPIL where the table has those columns. A
    missing, blank, ``N/A``, ``NONE`` or ``ANY`` value on either side counts as ``N/A`` (the simulator writes
    ``N/A`` for modes without a pupil). The first matching row wins.

    Raises
    ------
    MissingReferenceError
        No row matches; the message names the filter, pupil (and subarray). Not retriable.
    """
    columns = {name.lower(): name for name in (table.dtype.names or ())}
    instrument = header_str(primary, "INSTRUME") or ""
    if instrument == "FGS":
        if len(table) == 0:
            raise MissingReferenceError(f"{reference}: the FGS PHOTOM table has no rows")
        return table[0]
    keys = {"MIRI": ("filter", "subarray"), "NIRSPEC": ("filter", "grating")}.get(instrument, ("filter", "pupil"))
    wanted = {k: _text(primary.get(k.upper())) for k in keys if k in columns}
    match = np.ones(len(table), bool)
    for key, value in wanted.items():
        column = np.array([_text(v) for v in table[columns[key]]])
        ok = column == value
        if key == "subarray":
            ok |= column == "GENERIC"
        match &= ok
    hits = np.flatnonzero(match)
    if hits.size == 0:
        asked = " ".join(f"{k.upper()}={v}" for k, v in wanted.items())
        raise MissingReferenceError(f"{reference}: no PHOTOM row for {instrument} {asked}")
    return table[hits[0]]


def _pixel_area(area_header: Mapping[str, object] | None,
                photom_header: Mapping[str, object] | None) -> dict[str, float]:
    for header in (area_header, photom_header):
        if header is not None and header.get("PIXAR_SR") is not None:
            out = {"PIXAR_SR": float(header["PIXAR_SR"])}  # type: ignore[arg-type]
            if header.get("PIXAR_A2") is not None:
                out["PIXAR_A2"] = float(header["PIXAR_A2"])  # type: ignore[arg-type]
            return out
    return {}


def photom(image: ImageData, photom_table: np.ndarray, area_sci: npt.ArrayLike | None = None,
           area_header: Mapping[str, object] | None = None, *, photom_header: Mapping[str, object] | None = None,
           reference: str = "PHOTOM") -> PhotomResult:
    """Convert DN/s to MJy/sr with the PHOTOM row of the exposure (§5.4) and attach the pixel-area map.

    Parameters
    ----------
    image : ImageData
        Flat-fielded DN/s.
    photom_table : structured ndarray
        The PHOTOM table (columns ``filter``, ``pupil`` [, ``subarray``], ``photmjsr``; any case).
    area_sci, area_header : optional
        The AREA reference cut to the subarray and its primary header (PIXAR_SR/PIXAR_A2).
    photom_header : mapping, optional
        The PHOTOM primary header: PIXAR_* fallback when the AREA header has none.
    reference : str
        The PHOTOM file's name, for messages.

    Raises
    ------
    MissingReferenceError
        No row of the table matches the exposure. Not retriable.
    """
    row = photom_row(photom_table, image.primary, reference=reference)
    column = next(n for n in (photom_table.dtype.names or ()) if n.lower() == "photmjsr")
    c = float(row[column])
    c32, c2 = np.float32(c), np.float32(c * c)
    area = None
    if area_sci is not None:
        area = np.array(area_sci, dtype=np.float32)
        if area.shape != image.shape:
            raise BadDataShapeError(f"{image.root}: AREA is {area.shape}, the image is {image.shape}")
    sci_header = {**image.sci_header, "PHOTMJSR": c, "PHOTUJA2": c * MJYSR_TO_UJYA2, "BUNIT": "MJy/sr",
                  **_pixel_area(area_header, photom_header)}
    out = image.replace(
        sci=image.sci * c32, err=image.err * c32, var_poisson=image.var_poisson * c2,
        var_rnoise=image.var_rnoise * c2, var_flat=None if image.var_flat is None else image.var_flat * c2,
        area=area if area is not None else image.area, sci_header=sci_header,
    )
    return PhotomResult(out, c)
