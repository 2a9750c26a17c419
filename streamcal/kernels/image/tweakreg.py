"""tweakreg (``jwst_spec.md`` §5.6), simplified: relative alignment of the images of one mosaic.

Algorithm (the structure of jwst's tweakreg / tweakwcs, written out):

1. :func:`find_stars`: convolve with a Gaussian (``kernel_fwhm``), threshold at ``snr_threshold`` × the
   sigma-clipped background RMS, deblend, and measure windowed (SExtractor ``XWIN``-style) centroids with
   photutils ``SourceCatalog`` — ~0.005 px on bright, isolated stars, unlike segment moments (~0.02 px biased
   by the segment's truncation). Only the ``brightest`` are kept.
2. The reference catalogue starts as the image with the most stars (the first on a tie). The other images
   are aligned one at a time, the one whose footprint holds the most reference stars first; after each fit
   its unmatched stars join the reference catalogue (on the sky, through the corrected WCS), so a mosaic
   whose images overlap only pairwise still aligns (tweakwcs' ``align_wcs`` without an absolute catalogue).
3. Matching is done in the image's own pixel frame, where the reference stars are projected through the
   image's header WCS (for a TAN WCS this is the image's tangent plane): every pair closer than
   ``searchrad`` votes for its offset in a 2-D histogram of 1-px bins (smoothed 3×3); the mean offset of the
   pairs within 1.5 px of the peak is the initial shift. Then mutual nearest neighbours within
   ``tolerance`` (later iterations: within max(1 px, 5 × RMS)) are matched.
4. A weighted least-squares ``shift`` or ``rshift`` (shift + rotation about the reference pixel, closed form
   weighted Procrustes) with 3σ (MAD) clipping; weights 1/(σ_image² + σ_ref²), where σ ≈ FWHM/(2.355·S/N)
   plus a 0.01-px floor. Matching and fitting are iterated three times.

The correction is a transform ``T`` of the image's own pixel coordinates (0-based),
``T(p) = c + R(rotation)·(p − c) + (dx, dy)`` with ``c`` the reference pixel (CRPIX − 1) and ``R`` the
counter-clockwise rotation in (x, y); the corrected WCS is ``header WCS ∘ T``: a star measured at pixel ``p``
lies at ``header_wcs(T(p))``. It is written as a TAN WCS with the same CRPIX, CRVAL = header_wcs(c + d) and
PC = PC·R (exact up to the tangent-point change, ~1e-9 px). Absolute alignment (Gaia) is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS
from photutils.segmentation import SourceCatalog
from scipy.ndimage import convolve
from scipy.spatial import cKDTree

from streamcal.errors import BadDataShapeError
from streamcal.kernels.image.catalog import detect_segments
from streamcal.kernels.image.wcs import s_region, wcs_keywords
from streamcal.models.image import ImageData, good_mask

__all__ = ["Alignment", "TweakRegParams", "apply_alignment", "find_stars", "tweakreg"]

F64 = npt.NDArray[np.float64]
_CENTROID_FLOOR = 0.01  # px, added in quadrature to the statistical centroid error
_N_ITER = 3
_CLIP_SIGMA = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TweakRegParams:
    """Parameters (jwst tweakreg names and defaults where they exist).

    Attributes
    ----------
    snr_threshold : float
        Detection threshold, × background RMS.
    kernel_fwhm : float
        Gaussian detection kernel, px.
    brightest : int
        Stars kept per image.
    searchrad, tolerance : float
        Offset search radius and matching tolerance, arcsec.
    fitgeometry : {"shift", "rshift"}
    minobj : int
        Fewer matches than this: the image is left unaligned (``Alignment.fitted`` False).
    npixels : int
        Minimum connected pixels of a detection.
    abs_refcat : None
        Absolute alignment is not implemented; must be None.
    """

    snr_threshold: float = 10.0
    kernel_fwhm: float = 2.5
    brightest: int = 200
    searchrad: float = 2.0
    tolerance: float = 0.7
    fitgeometry: Literal["shift", "rshift"] = "rshift"
    minobj: int = 15
    npixels: int = 5
    abs_refcat: None = None

    def __post_init__(self) -> None:
        if self.fitgeometry not in ("shift", "rshift"):
            raise ValueError(f"fitgeometry must be 'shift' or 'rshift', not {self.fitgeometry!r}")
        if self.abs_refcat is not None:
            raise ValueError("abs_refcat: absolute alignment is not implemented")


class Alignment(NamedTuple):
    """The fitted correction of one image (see the module docstring for ``T``).

    Attributes
    ----------
    wcs : WCS
        The corrected WCS (the input WCS when not fitted).
    dx, dy : float
        Shift, px, in the image's own pixel frame.
    rotation : float
        deg, counter-clockwise in (x, y) about the reference pixel.
    rms : float
        RMS of the 2-D residuals of the kept matches, px (0 for the reference image or when not fitted).
    n_matched : int
        Matches kept by the fit (the reference image: its number of stars).
    fitted : bool
        False when fewer than ``minobj`` stars matched (the image is left as it was).
    """

    wcs: WCS
    dx: float
    dy: float
    rotation: float
    rms: float
    n_matched: int
    fitted: bool = True


def find_stars(image: ImageData, *, params: TweakRegParams = TweakRegParams()) -> Table:
    """Detect stars and measure windowed centroids.

    Parameters
    ----------
    image : ImageData
        A 2-D (cal-like) image; DO_NOT_USE and non-finite pixels are ignored.
    params : TweakRegParams

    Returns
    -------
    astropy.table.Table
        Columns ``x``, ``y`` (0-based), ``flux`` (background-subtracted segment sum, image units), ``snr`` and
        ``sigma`` (estimated centroid error, px), brightest first, at most ``params.brightest`` rows.

    Raises
    ------
    BadDataShapeError
        The image is a cube. Not retriable.
    """
    if image.is_cube:
        raise BadDataShapeError(f"{image.root}: tweakreg needs 2-D images, got SCI {image.sci.shape}")
    bad = ~good_mask(image, "~DO_NOT_USE")
    data = np.where(bad, 0.0, image.sci).astype(np.float64)
    error = np.where(bad | ~np.isfinite(image.err), 0.0, image.err).astype(np.float64)
    _, median, std = sigma_clipped_stats(data, mask=bad, sigma=3.0)
    data = np.where(bad, 0.0, data - median)
    segm, conv = detect_segments(data, params.snr_threshold * std, kernel_fwhm=params.kernel_fwhm,
                                 npixels=params.npixels, mask=bad)
    empty = Table(names=("x", "y", "flux", "snr", "sigma"), dtype=("f8",) * 5)
    if segm is None:
        return empty
    cat = SourceCatalog(data, segm, convolved_data=conv, error=error, mask=bad)
    x, y = np.asarray(cat.x_centroid_win, float), np.asarray(cat.y_centroid_win, float)
    flux, flux_err = np.asarray(cat.segment_flux, float), np.asarray(cat.segment_flux_err, float)
    ny, nx = image.shape
    ok = (np.isfinite(x) & np.isfinite(y) & (flux > 0) & (flux_err > 0)
          & (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5))
    if not ok.any():
        return empty
    x, y, flux, flux_err = x[ok], y[ok], flux[ok], flux_err[ok]
    order = np.argsort(-flux, kind="stable")[: params.brightest]
    snr = flux / flux_err
    fwhm = np.asarray(getattr(cat.fwhm, "value", cat.fwhm), float)[ok]
    fwhm = np.where(np.isfinite(fwhm) & (fwhm > 0), fwhm, params.kernel_fwhm)
    sigma = np.hypot(fwhm / (2.355 * snr), _CENTROID_FLOOR)
    return Table({"x": x[order], "y": y[order], "flux": flux[order], "snr": snr[order], "sigma": sigma[order]})


class _RefCat(NamedTuple):
    ra: F64
    dec: F64
    sigma: F64


class _Fit(NamedTuple):
    shift: F64  # (2,)
    theta: float  # rad
    rms: float
    n: int
    img_index: npt.NDArray[np.intp]  # matched image stars
    ref_index: npt.NDArray[np.intp]


def _rotation(theta: float) -> F64:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _apply(p: F64, centre: F64, shift: F64, theta: float) -> F64:
    return (p - centre) @ _rotation(theta).T + centre + shift


def _initial_offset(p: F64, q: F64, searchrad: float) -> F64 | None:
    """The most common offset q − p among pairs closer than ``searchrad`` (2-D histogram vote)."""
    pairs = cKDTree(p).query_ball_point(q, r=searchrad)
    offsets = np.array([q[j] - p[i] for j, near in enumerate(pairs) for i in near]).reshape(-1, 2)
    if offsets.shape[0] == 0:
        return None
    nbin = 2 * math.ceil(searchrad) + 1
    edges = np.arange(nbin + 1) - (nbin / 2.0)
    hist, _, _ = np.histogram2d(offsets[:, 0], offsets[:, 1], bins=(edges, edges))
    smooth = convolve(hist, np.ones((3, 3)), mode="constant")
    # the smoothed vote, ties broken by the bin's own count: offsets all in one bin (a pointing without error)
    # tie its eight neighbours, and a corner one would put the peak 1.4 px off, its neighbourhood empty
    score = smooth * (hist.max() + 1.0) + hist
    ix, iy = np.unravel_index(int(np.argmax(score)), score.shape)
    peak = np.array([edges[ix] + 0.5, edges[iy] + 0.5])
    near = np.hypot(*(offsets - peak).T) < 1.5
    if not near.any():
        return None
    return np.asarray(offsets[near].mean(axis=0), dtype=np.float64)


def _mutual_matches(p: F64, q: F64, tol: float) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indices (into p, into q) of mutual nearest neighbours closer than ``tol``."""
    dist, j = cKDTree(q).query(p, distance_upper_bound=tol)
    _, back = cKDTree(p).query(q)
    i = np.flatnonzero(np.isfinite(dist))
    keep = back[j[i]] == i
    return i[keep], j[i][keep]


def _solve(p: F64, q: F64, w: F64, centre: F64, rotate: bool) -> tuple[F64, float]:
    """Weighted least squares of q ≈ R(θ)(p − c) + c + d."""
    pm, qm = (w[:, None] * p).sum(0) / w.sum(), (w[:, None] * q).sum(0) / w.sum()
    theta = 0.0
    if rotate:
        dp, dq = p - pm, q - qm
        theta = math.atan2(float((w * (dp[:, 0] * dq[:, 1] - dp[:, 1] * dq[:, 0])).sum()),
                           float((w * (dp * dq).sum(1)).sum()))
    shift = qm - centre - _rotation(theta) @ (pm - centre)
    return shift, theta


#: Smallest centroid error a star is weighted with (px): a noiseless image must not give infinite weights.
_SIGMA_FLOOR = 1e-3


def _usable(xy: F64, sigma: F64) -> tuple[npt.NDArray[np.intp], F64]:
    """Indices of the stars with finite positions, and every star's error made finite and ≥ the floor (a
    reference star the image's WCS cannot place, or a centroid without an error, must not poison the fit)."""
    good = np.flatnonzero(np.isfinite(xy).all(axis=1))
    sig = np.where(np.isfinite(sigma), sigma, np.nan)
    fill = float(np.nanmedian(sig)) if np.isfinite(sig).any() else 1.0
    return good, np.maximum(np.where(np.isfinite(sig), sig, fill), _SIGMA_FLOOR)


def _fit(p: F64, q: F64, sig_p: F64, sig_q: F64, centre: F64, *, params: TweakRegParams,
         pixel_scale: float) -> _Fit | None:
    """Match image stars ``p`` to reference stars ``q`` (both in the image's header pixel frame) and fit; stars
    without a finite position take no part (indices in the result are into the full ``p`` and ``q``)."""
    gp, sig_p = _usable(p, sig_p)
    gq, sig_q = _usable(q, sig_q)
    if gp.size < params.minobj or gq.size < params.minobj:
        return None
    fit = _fit_finite(p[gp], q[gq], sig_p[gp], sig_q[gq], centre, params=params, pixel_scale=pixel_scale)
    if fit is None:
        return None
    return fit._replace(img_index=gp[fit.img_index], ref_index=gq[fit.ref_index])


def _fit_finite(p: F64, q: F64, sig_p: F64, sig_q: F64, centre: F64, *, params: TweakRegParams,
                pixel_scale: float) -> _Fit | None:
    offset = _initial_offset(p, q, params.searchrad / pixel_scale)
    if offset is None:
        return None
    shift, theta, tol = offset, 0.0, params.tolerance / pixel_scale
    fit: _Fit | None = None
    for _ in range(_N_ITER):
        i, j = _mutual_matches(_apply(p, centre, shift, theta), q, tol)
        if i.size < params.minobj:
            return fit
        w = 1.0 / (sig_p[i] ** 2 + sig_q[j] ** 2)
        keep = np.ones(i.size, bool)
        for _clip in range(5):
            shift, theta = _solve(p[i][keep], q[j][keep], w[keep], centre, params.fitgeometry == "rshift")
            if not (np.isfinite(shift).all() and math.isfinite(theta)):
                return fit
            res = _apply(p[i], centre, shift, theta) - q[j]
            mad = 1.4826 * np.median(np.abs(res[keep] - np.median(res[keep], axis=0)), axis=0)
            new = np.all(np.abs(res - np.median(res[keep], axis=0)) <= _CLIP_SIGMA * np.maximum(mad, 1e-3), axis=1)
            if new.sum() < params.minobj or np.array_equal(new, keep):
                break
            keep = new
        rms = float(np.sqrt(np.mean(np.sum(res[keep] ** 2, axis=1))))
        fit = _Fit(shift, theta, rms, int(keep.sum()), i[keep], j[keep])
        tol = min(params.tolerance / pixel_scale, max(1.0, 5.0 * rms))
    return fit


def _corrected_wcs(wcs: WCS, shift: F64, theta: float) -> WCS:
    """``wcs ∘ T`` as a TAN WCS: same CRPIX, CRVAL = wcs(c + d), PC = PC·R."""
    out = wcs.deepcopy()
    centre = np.asarray(wcs.wcs.crpix, float) - 1.0
    ra, dec = wcs.pixel_to_world_values(centre[0] + shift[0], centre[1] + shift[1])
    out.wcs.crval = [float(ra), float(dec)]
    out.wcs.pc = wcs.wcs.get_pc() @ _rotation(theta)
    out.wcs.set()
    out.pixel_shape = wcs.pixel_shape
    return out


def _pixel_scale(wcs: WCS) -> float:
    """Mean pixel scale, arcsec."""
    return float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))) * 3600.0


def _inside(wcs: WCS, ra: F64, dec: F64) -> int:
    x, y = wcs.world_to_pixel_values(ra, dec)
    nx, ny = wcs.pixel_shape
    return int(np.count_nonzero((x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)))


def tweakreg(images: Sequence[tuple[ImageData, WCS]], *, params: TweakRegParams = TweakRegParams()
             ) -> list[Alignment]:
    """Align the images to each other (relative astrometry).

    Parameters
    ----------
    images : sequence of (ImageData, WCS)
        2-D images and their current (header) WCS, which must have ``pixel_shape``.
    params : TweakRegParams

    Returns
    -------
    list of Alignment
        One per image, in input order. The reference image (most stars) gets the identity.

    Raises
    ------
    BadDataShapeError
        An image is a cube. Not retriable.
    """
    stars = [find_stars(image, params=params) for image, _ in images]
    out: list[Alignment | None] = [None] * len(images)
    if not images:
        return []
    ref = int(np.argmax([len(s) for s in stars]))
    ref_wcs = images[ref][1]
    ra, dec = ref_wcs.pixel_to_world_values(np.asarray(stars[ref]["x"]), np.asarray(stars[ref]["y"]))
    refcat = _RefCat(np.asarray(ra, float), np.asarray(dec, float), np.asarray(stars[ref]["sigma"], float))
    out[ref] = Alignment(wcs=ref_wcs.deepcopy(), dx=0.0, dy=0.0, rotation=0.0, rms=0.0,
                         n_matched=len(stars[ref]))
    todo = [k for k in range(len(images)) if k != ref]
    while todo:
        k = max(todo, key=lambda n: (_inside(images[n][1], refcat.ra, refcat.dec), -n))
        todo.remove(k)
        wcs, cat = images[k][1], stars[k]
        p = np.column_stack([np.asarray(cat["x"], float), np.asarray(cat["y"], float)])
        qx, qy = wcs.world_to_pixel_values(refcat.ra, refcat.dec)
        centre = np.asarray(wcs.wcs.crpix, float) - 1.0
        fit = None
        if len(p) >= params.minobj and refcat.ra.size >= params.minobj:
            fit = _fit(p, np.column_stack([qx, qy]), np.asarray(cat["sigma"], float), refcat.sigma, centre,
                       params=params, pixel_scale=_pixel_scale(wcs))
        if fit is None or fit.n < params.minobj:
            out[k] = Alignment(wcs=wcs.deepcopy(), dx=0.0, dy=0.0, rotation=0.0, rms=0.0,
                               n_matched=0 if fit is None else fit.n, fitted=False)
            continue
        corrected = _corrected_wcs(wcs, fit.shift, fit.theta)
        out[k] = Alignment(wcs=corrected, dx=float(fit.shift[0]), dy=float(fit.shift[1]),
                           rotation=math.degrees(fit.theta), rms=fit.rms, n_matched=fit.n)
        new = np.setdiff1d(np.arange(len(p)), fit.img_index)
        nra, ndec = corrected.pixel_to_world_values(p[new, 0], p[new, 1])
        refcat = _RefCat(np.concatenate([refcat.ra, np.atleast_1d(nra)]),
                         np.concatenate([refcat.dec, np.atleast_1d(ndec)]),
                         np.concatenate([refcat.sigma, np.asarray(cat["sigma"], float)[new]]))
    return [a for a in out if a is not None]


def apply_alignment(image: ImageData, alignment: Alignment) -> ImageData:
    """A copy of ``image`` whose SCI header carries the corrected WCS.

    Writes the WCS keywords (CRPIX, CRVAL, CDELT, PC, ...), RA_REF/DEC_REF (the corrected sky position of
    XREF_SCI/YREF_SCI, when present), ROLL_REF (from the corrected PC, when VPARITY/V3I_YANG are present),
    S_REGION, and the fit: TWEAKDX, TWEAKDY (px), TWEAKROT (deg), TWEAKRMS (px), TWEAKNM (matches). An
    unfitted alignment changes nothing but TWEAKNM. The S_TWKREG status is the step's business.
    """
    head = dict(image.sci_header)
    head["TWEAKNM"] = int(alignment.n_matched)
    if not alignment.fitted:
        return image.replace(sci_header=head)
    wcs = alignment.wcs
    head.update(wcs_keywords(wcs))
    if head.get("XREF_SCI") is not None and head.get("YREF_SCI") is not None:
        ra, dec = wcs.pixel_to_world_values(float(head["XREF_SCI"]) - 1.0,  # type: ignore[arg-type]
                                            float(head["YREF_SCI"]) - 1.0)  # type: ignore[arg-type]
        head["RA_REF"], head["DEC_REF"] = float(ra), float(dec)
    if head.get("VPARITY") is not None and head.get("V3I_YANG") is not None and head.get("ROLL_REF") is not None:
        pc = wcs.wcs.get_pc()
        rel = math.degrees(math.atan2(pc[0, 1], pc[1, 1]))
        roll = rel + int(head["VPARITY"]) * float(head["V3I_YANG"])  # type: ignore[call-overload, arg-type]
        head["ROLL_REF"] = roll % 360.0
    head["S_REGION"] = s_region(wcs, image.shape)
    head.update(TWEAKDX=float(alignment.dx), TWEAKDY=float(alignment.dy), TWEAKROT=float(alignment.rotation),
                TWEAKRMS=float(alignment.rms))
    return image.replace(sci_header=head)
