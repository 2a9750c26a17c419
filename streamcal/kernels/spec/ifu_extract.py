"""Extract a point source's spectrum from an IFU cube: a circular aperture with a background annulus in every
wavelength plane (jwst's extract_1d for IFU cubes, jwst_spec §5.9; issue 11).

In plane k, spaxel j enters the aperture with the share ``a_j`` of its area inside the circle of radius ``r_k``
about the source and the annulus with its share ``b_j`` between ``r_in,k`` and ``r_out,k`` (shares from a
sub-spaxel grid; spaxels without data drop out). With ``A = Σ a_j``, ``B = Σ b_j``::

    BACKGROUND  = Σ b_j SB_j / B                                     (MJy/sr)
    FLUX        = 1e6 · Ω · (Σ a_j SB_j − A · BACKGROUND)            (Jy; Ω the spaxel's solid angle, sr)
    SURF_BRIGHT = FLUX / (1e6 · Ω · A),  NPIXELS = A

Every output is linear in the cube, and the cube is linear in the detector pixels (``SB = R s``, the resampling
matrix of :mod:`streamcal.kernels.spec.cube`), so each variance is propagated exactly through both:
``var(FLUX) = (E R)∘(E R) @ v`` with E the plane-by-plane extraction weights — the covariance between
neighbouring spaxels the resampling makes is counted, which summing the cube's own variances would miss (jwst
scales the error instead, ``ifu_covar_scale``).

:func:`locate_source` finds the source in a cube (jwst's ``ifu_autocen``): a 2-D Gaussian plus a constant fitted
(``scipy.optimize.curve_fit``) to the cube's median over wavelength, started at its brightest spaxel.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import curve_fit

__all__ = ["CubeSpectrum", "extract_aperture", "locate_source"]

F64 = npt.NDArray[np.float64]
_SUB = 5  # sub-spaxels per axis for the aperture shares
_MJY_TO_JY = 1e6


class CubeSpectrum(NamedTuple):
    """Per wavelength plane: FLUX (Jy), SURF_BRIGHT and BACKGROUND (MJy/sr), each with its variance components
    ``(poisson, rnoise, flat)``, NPIXELS (spaxels in the aperture) and ``complete`` (no aperture spaxel without
    data)."""

    flux: F64
    flux_var: tuple[F64, F64, F64]
    surf_bright: F64
    sb_var: tuple[F64, F64, F64]
    background: F64
    bkg_var: tuple[F64, F64, F64]
    npixels: F64
    complete: npt.NDArray[np.bool_]


def _shares(alpha: F64, beta: F64, centre: tuple[float, float], radius: float) -> F64:
    """The share of each spaxel ``(nbeta, nalpha)`` inside a circle, from a sub-spaxel grid."""
    da, db = alpha[1] - alpha[0] if alpha.size > 1 else 1.0, beta[1] - beta[0] if beta.size > 1 else 1.0
    offsets = (np.arange(_SUB) + 0.5) / _SUB - 0.5
    a = (alpha[:, None] + offsets[None, :] * da).ravel() - centre[0]
    b = (beta[:, None] + offsets[None, :] * db).ravel() - centre[1]
    inside = (b[:, None] ** 2 + a[None, :] ** 2) < radius**2
    return np.asarray(inside.reshape(beta.size, _SUB, alpha.size, _SUB).mean(axis=(1, 3)), np.float64)


def extract_aperture(cube: npt.ArrayLike, matrix: sparse.csr_matrix, variances: tuple[F64, F64, F64], *,
                     alpha: F64, beta: F64, centre: tuple[float, float], radius: F64, inner: F64, outer: F64,
                     spaxel_sr: float) -> CubeSpectrum:
    """The aperture photometry of every plane of ``cube`` (module docstring).

    Parameters
    ----------
    cube : array_like, shape (nwave, nbeta, nalpha), float
        Surface brightness, MJy/sr; NaN where no pixel fell.
    matrix : scipy.sparse.csr_matrix, shape (nwave·nbeta·nalpha, npix)
        The resampling that made the cube from the pixels.
    variances : tuple of three ndarray, shape (npix,)
        The pixels' Poisson, read-noise and flat variances, (MJy/sr)².
    alpha, beta : ndarray
        Spaxel centres, arcsec (regular).
    centre : (float, float)
        The source's (alpha, beta), arcsec.
    radius, inner, outer : ndarray, shape (nwave,)
        Aperture radius and annulus radii per plane, arcsec (``radius ≤ inner < outer``).
    spaxel_sr : float
        A spaxel's solid angle, sr.

    Returns
    -------
    CubeSpectrum
    """
    data = np.asarray(cube, np.float64)
    nw, nb, na = data.shape
    valid = np.isfinite(data)
    sb = np.where(valid, data, 0.0)
    plane = nb * na
    ap_rows, ap_cols, ap_vals, bk_vals = [], [], [], []
    npixels, complete = np.zeros(nw), np.zeros(nw, bool)
    area_b = np.zeros(nw)
    for k in range(nw):
        a = _shares(alpha, beta, centre, float(radius[k]))
        b = _shares(alpha, beta, centre, float(outer[k])) - _shares(alpha, beta, centre, float(inner[k]))
        complete[k] = not np.any((a > 0) & ~valid[k])
        a, b = a * valid[k], b * valid[k]
        npixels[k], area_b[k] = a.sum(), b.sum()
        back = b / area_b[k] if area_b[k] > 0 else np.zeros_like(b)
        hit = np.flatnonzero((a + back).ravel() != 0)
        ap_rows.append(np.full(hit.size, k))
        ap_cols.append(k * plane + hit)
        ap_vals.append((a.ravel() - npixels[k] * back.ravel())[hit])
        bk_vals.append(back.ravel()[hit])
    rows, cols = np.concatenate(ap_rows), np.concatenate(ap_cols)
    shape = (nw, nw * plane)
    flux_op = sparse.csr_matrix((np.concatenate(ap_vals) * spaxel_sr * _MJY_TO_JY, (rows, cols)), shape=shape)
    bkg_op = sparse.csr_matrix((np.concatenate(bk_vals), (rows, cols)), shape=shape)
    flat_sb = sb.ravel()
    flux, background = flux_op @ flat_sb, bkg_op @ flat_sb
    flux_g, bkg_g = (flux_op @ matrix).power(2), (bkg_op @ matrix).power(2)
    flux_var = tuple(np.asarray(flux_g @ v) for v in variances)
    bkg_var = tuple(np.asarray(bkg_g @ v) for v in variances)
    to_sb = np.divide(1.0, npixels * spaxel_sr * _MJY_TO_JY, out=np.full(nw, np.nan), where=npixels > 0)
    no_background = area_b <= 0
    flux = np.where(no_background | (npixels <= 0), np.nan, flux)
    return CubeSpectrum(flux, (flux_var[0], flux_var[1], flux_var[2]), flux * to_sb,
                        (flux_var[0] * to_sb**2, flux_var[1] * to_sb**2, flux_var[2] * to_sb**2),
                        np.where(no_background, np.nan, background), (bkg_var[0], bkg_var[1], bkg_var[2]),
                        npixels, complete)


def _gaussian(coords: tuple[F64, F64], amplitude: float, a0: float, b0: float, sigma: float, level: float) -> F64:
    a, b = coords
    return np.asarray(level + amplitude * np.exp(-0.5 * ((a - a0) ** 2 + (b - b0) ** 2) / sigma**2))


def locate_source(cube: npt.ArrayLike, *, alpha: F64, beta: F64, sigma: float) -> tuple[float, float]:
    """The point source's (alpha, beta) in a cube (module docstring); ``sigma`` (arcsec) starts the fit.

    Raises
    ------
    ValueError
        The cube has no data, or the fit does not converge inside the field. Not retriable.
    """
    data = np.asarray(cube, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # spaxels without data (a dithered cube's edges): NaN
        image = np.nanmedian(np.where(np.isfinite(data), data, np.nan), axis=0) if np.isfinite(data).any() else None
    if image is None or not np.isfinite(image).any():
        raise ValueError("the cube has no data to find the source in")
    bb, aa = np.meshgrid(beta, alpha, indexing="ij")
    good = np.isfinite(image)
    peak = np.unravel_index(np.nanargmax(image), image.shape)
    level = float(np.nanmedian(image))
    start = (float(image[peak]) - level, float(alpha[peak[1]]), float(beta[peak[0]]), sigma, level)
    try:
        found, _ = curve_fit(_gaussian, (aa[good], bb[good]), image[good], p0=start, maxfev=5000)
    except RuntimeError as exc:
        raise ValueError(f"no point source found in the cube: {exc}") from exc
    a0, b0 = float(found[1]), float(found[2])
    if not (alpha[0] <= a0 <= alpha[-1] and beta[0] <= b0 <= beta[-1]):
        raise ValueError(f"the source fit ({a0:.3f}, {b0:.3f}) arcsec lies outside the cube")
    return a0, b0
