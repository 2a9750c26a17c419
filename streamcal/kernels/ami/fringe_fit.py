"""ami_analyze's fringe fit: the Lacour–Greenbaum linear model of an NRM image, solved per integration.

Algorithm (jwst_spec §5.11, after jwst's ``lg_model``/``leastsqnrm``): around a centre (x0, y0) the image of a
point source through N = 7 holes is the hole envelope P(θ) (one hole's PSF) times
``N + Σ_{k<l} [C_kl cos(2π b_kl·θ/λ) + S_kl sin(2π b_kl·θ/λ)]``. The 44 basis images — P·1, P·cos and P·sin of
the 21 baselines, and a constant — are built on a pixel grid oversampled ``oversample`` times and binned, summed
over ``n_wavelengths`` samples of the filter's band, and fitted to each integration by linear least squares,
bad pixels left out (unweighted as jwst's default; ``weighted=True`` weights by 1/ERR²). The envelope is centred
on the primary, so a companion's fringes are seen through an envelope that is not its own: its contrast comes
out a few per cent low at 150–250 mas (≈ 2 % at 150 mas, 5 % at 250 mas, 14 % at 400 mas for F480M), as with
jwst's model; :func:`~streamcal.kernels.ami.binary.fit_binary` can model it (``hole_diameter``). Per baseline
the fringe amplitude is ``(N/2)·√(C²+S²)/DC`` (1 for a coherent, monochromatic, unresolved source) and the phase
``atan2(S, C)``. The centre starts at the flux-weighted
centroid of the median image and is refined twice from the slope of the fitted phases against the baselines
(a shift of the source adds ``2π b·Δθ/λ`` to every phase).

Simplified against jwst: circular holes (Airy envelope), no bad-pixel Fourier correction (bad pixels are simply
left out of the fit), no affine-distortion or rotation search, the full subarray is fitted (no cropping), the
band is a top-hat sampled at a few wavelengths [U].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from streamcal.kernels.ami.mask import HOLE_CENTRES, HOLE_DIAMETER, N_HOLES, Band, baseline_vectors

__all__ = ["FringeFit", "envelope", "fit_fringes", "fringe_basis"]

_ARCSEC = np.pi / (180.0 * 3600.0)
F64 = npt.NDArray[np.float64]


class FringeFit(NamedTuple):
    """Per-integration fringe observables of one exposure.

    amplitudes, phases : ndarray, (nints, 21)
        Fringe (visibility) amplitudes and phases (rad) of the baselines in :data:`~.mask.BASELINES` order.
    solutions : ndarray, (nints, 44)
        The fitted coefficients: DC, 21 cos, 21 sin, constant.
    centre : tuple of float
        ``(x0, y0)``, 0-based pixel, where the model is centred.
    residual_rms : ndarray, (nints,)
        RMS of the residuals (weighted: in units of ERR, ≈ 1 when ERR describes the noise).
    n_pixels : int
        Pixels used in the fit.
    """

    amplitudes: F64
    phases: F64
    solutions: F64
    centre: tuple[float, float]
    residual_rms: F64
    n_pixels: int


def envelope(theta: npt.ArrayLike, wavelength: float, *, diameter: float = HOLE_DIAMETER) -> F64:
    """One circular hole's PSF, peak 1, at angle ``theta`` (rad) from its centre: the Airy pattern
    ``(2 J1(x)/x)²`` with ``x = π d θ / λ``."""
    x = np.pi * diameter * np.asarray(theta, dtype=np.float64) / wavelength
    safe = np.where(x == 0.0, 1.0, x)
    return np.asarray(np.where(x == 0.0, 1.0, (2.0 * special.j1(safe) / safe) ** 2))


def _axis(n: int, centre: float, oversample: int, scale: float) -> F64:
    """Angles (rad) of the sub-pixel centres along one axis of ``n`` pixels, relative to ``centre`` (px)."""
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    return ((np.arange(n)[:, None] + sub[None, :]).ravel() - centre) * scale


def fringe_basis(shape: tuple[int, int], centre: tuple[float, float], *, band: Band, pixel_scale: float,
                 oversample: int = 3, n_wavelengths: int = 3,
                 baselines: npt.ArrayLike | None = None) -> F64:
    """The 44 basis images on the pixels of ``shape``: P, P·cos_kl (21), P·sin_kl (21), 1.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)``.
    centre : tuple of float
        ``(x0, y0)``, 0-based pixel.
    band : Band
    pixel_scale : float
        arcsec per pixel.
    oversample, n_wavelengths : int
    baselines : array-like, (21, 2), optional
        ``r_k - r_l`` in metres (default: the NIRISS mask).

    Returns
    -------
    ndarray, float64, (44, ny, nx)
    """
    ny, nx = shape
    b = baseline_vectors(HOLE_CENTRES) if baselines is None else np.asarray(baselines, dtype=np.float64)
    nb = b.shape[0]
    scale = pixel_scale * _ARCSEC
    tx = _axis(nx, centre[0], oversample, scale)
    ty = _axis(ny, centre[1], oversample, scale)
    radius = np.hypot(ty[:, None], tx[None, :])
    fine = np.zeros((2 * nb + 1, ty.size, tx.size))
    for lam in band.samples(n_wavelengths):
        env = envelope(radius, float(lam))
        fine[0] += env
        ax = 2.0 * np.pi * np.outer(b[:, 0], tx) / lam  # (nb, nx_fine)
        ay = 2.0 * np.pi * np.outer(b[:, 1], ty) / lam
        cx, sx, cy, sy = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)
        for k in range(nb):  # cos(a + b) and sin(a + b) from the separable factors
            fine[1 + k] += env * (np.outer(cy[k], cx[k]) - np.outer(sy[k], sx[k]))
            fine[1 + nb + k] += env * (np.outer(sy[k], cx[k]) + np.outer(cy[k], sx[k]))
    fine /= n_wavelengths
    binned = fine.reshape(2 * nb + 1, ny, oversample, nx, oversample).mean(axis=(2, 4))
    return np.concatenate([binned, np.ones((1, ny, nx))])


def _centroid(image: F64, good: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """Flux-weighted centroid of the pixels above 10 % of the peak."""
    data = np.where(good, image, 0.0)
    weights = np.where(data > 0.1 * np.max(data), data, 0.0)
    yy, xx = np.indices(data.shape)
    total = float(weights.sum())
    return float((weights * xx).sum() / total), float((weights * yy).sum() / total)


def _solve(basis: F64, cube: F64, weights: F64, good: npt.NDArray[np.bool_]) -> tuple[F64, F64]:
    """Weighted least squares of every plane of ``cube``: coefficients (nints, 44) and residual RMS (nints,).

    Normal equations (44 × 44). With 0/1 weights (the unweighted fit) the normal matrix of the pixels usable in
    any integration is formed once and each integration's few extra bad pixels (jumps) are subtracted from it:
    the (npix × 44) products are few, which matters on a busy machine.
    """
    design = basis.reshape(basis.shape[0], -1).T  # (npix, nterms)
    nints = cube.shape[0]
    w = np.where(good, weights, 0.0).reshape(nints, -1)
    data = np.where(good, cube, 0.0).reshape(nints, -1)
    rhs = (w * data) @ design
    binary = bool(np.all((w == 0.0) | (w == 1.0)))
    union = np.any(w > 0, axis=0)
    gram = design[union].T @ design[union] if binary else None
    coeffs = np.zeros((nints, basis.shape[0]))
    for i in range(nints):
        if gram is not None:
            missing = union & (w[i] == 0.0)
            normal = gram - design[missing].T @ design[missing]
        else:
            normal = (design * w[i][:, None]).T @ design
        coeffs[i] = np.linalg.solve(normal, rhs[i])
    residual = (data - coeffs @ design.T) * np.sqrt(w)
    rms = np.sqrt((residual**2).sum(axis=1) / np.maximum((w > 0).sum(axis=1), 1))
    return coeffs, rms


def _observables(coeffs: F64, nb: int) -> tuple[F64, F64]:
    c, s, dc = coeffs[:, 1:1 + nb], coeffs[:, 1 + nb:1 + 2 * nb], coeffs[:, :1]
    return 0.5 * N_HOLES * np.hypot(c, s) / dc, np.arctan2(s, c)


def fit_fringes(cube: npt.ArrayLike, err: npt.ArrayLike, good: npt.ArrayLike, *, band: Band, pixel_scale: float,
                oversample: int = 3, n_wavelengths: int = 3, refine: int = 2, weighted: bool = False) -> FringeFit:
    """Fit the NRM fringe model to every integration of a ``_calints`` cube.

    Parameters
    ----------
    cube, err : array-like, (nints, ny, nx)
        SCI and ERR (any linear flux unit).
    good : array-like of bool, (nints, ny, nx)
        Pixels to fit (finite, not DO_NOT_USE, ERR > 0).
    band : Band
        The filter.
    pixel_scale : float
        arcsec per pixel.
    oversample, n_wavelengths : int
        Model sampling (jwst's default oversample is 3).
    refine : int
        Centre refinements from the phase slope.
    weighted : bool
        Weight pixels by 1/ERR² (jwst's default is unweighted).

    Returns
    -------
    FringeFit

    Raises
    ------
    ValueError
        Fewer usable pixels than model terms in some integration, or no flux. Not retriable.
    """
    data = np.asarray(cube, dtype=np.float64)
    use = np.asarray(good, dtype=bool) & np.isfinite(data)
    sigma = np.asarray(err, dtype=np.float64)
    use &= np.isfinite(sigma) & (sigma > 0)
    b = baseline_vectors(HOLE_CENTRES)
    nterms = 2 * b.shape[0] + 2
    if int(use.sum(axis=(1, 2)).min()) < nterms:
        raise ValueError(f"an integration has fewer than {nterms} usable pixels")
    weights = np.where(use, 1.0 / np.where(use, sigma, 1.0) ** 2 if weighted else 1.0, 0.0)
    median = np.median(np.where(use, data, np.nan), axis=0)
    median = np.where(np.isfinite(median), median, 0.0)
    if not np.max(median) > 0:
        raise ValueError("the exposure has no flux to fit")
    x0, y0 = _centroid(median, np.all(use, axis=0) | (median > 0))
    scale = pixel_scale * _ARCSEC
    for _ in range(refine):  # phase slope → centre offset: φ_kl ≈ 2π b_kl·Δθ/λ
        basis = fringe_basis(median.shape, (x0, y0), band=band, pixel_scale=pixel_scale, oversample=oversample,
                             n_wavelengths=n_wavelengths)
        coeffs, _ = _solve(basis, median[None], np.sum(weights, axis=0)[None], np.any(use, axis=0)[None])
        _, phases = _observables(coeffs, b.shape[0])
        shift = np.linalg.lstsq(2.0 * np.pi * b / band.centre, phases[0], rcond=None)[0] / scale
        x0, y0 = x0 + float(shift[0]), y0 + float(shift[1])
    basis = fringe_basis(median.shape, (x0, y0), band=band, pixel_scale=pixel_scale, oversample=oversample,
                         n_wavelengths=n_wavelengths)
    coeffs, rms = _solve(basis, data, weights, use)
    amplitudes, phases = _observables(coeffs, b.shape[0])
    return FringeFit(amplitudes, phases, coeffs, (x0, y0), rms, int(use.sum(axis=(1, 2)).min()))
