"""A transit light curve: a dark disc (the planet) crossing a quadratically limb-darkened star.

Model (Mandel & Agol 2002, ApJ 580, L171, computed the way batman does it — Kreidberg 2015, PASP 127, 1161 —
by integrating the occulted area over annuli of the stellar disc instead of through elliptic integrals):

- radii in units of the stellar radius; the planet's radius is ``k = sqrt(depth)`` (``depth`` is jwst's and
  batman's ``rp²``: the fraction of a *uniform* disc the planet covers, not the observed depth, which limb
  darkening makes deeper at the centre of the transit);
- the planet moves on a straight chord at constant speed with impact parameter ``b`` (a circular orbit with
  ``a/R* ≫ 1``: the curvature of the chord during the transit is ignored), so its projected distance from the
  star's centre is ``z(t) = sqrt(b² + ((1 + k)² − b²) · (2 (t − t0) / T14)²)``: ``z = 1 + k`` at first and
  fourth contact, ``t0 ± T14/2``;
- the star's intensity is ``I(μ) = 1 − u1 (1 − μ) − u2 (1 − μ)²`` with ``μ = sqrt(1 − r²)`` (quadratic limb
  darkening) and its total flux ``π (1 − u1/3 − u2/6)``;
- the flux blocked is ``Σ_annuli I(r_mid) · [A(r_out) − A(r_in)]`` where ``A(r)`` is the area of the planet's
  disc inside radius ``r`` of the star (the exact two-circle overlap). With the default 1000 annuli, their edges
  uniform in ``μ``, the relative flux is within 1 ppm of the closed form at mid-transit for ``depth ≤ 0.05``
  (tested) and of a brute-force pixel integration during ingress.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

__all__ = ["TransitFit", "fit_transit", "occulted_area", "transit_flux"]

_SECONDS_PER_DAY = 86400.0


def occulted_area(r: npt.ArrayLike, k: float, z: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The area of a disc of radius ``k`` centred at distance ``z`` that lies inside the circle of radius ``r``
    (the exact overlap of two circles; broadcasts ``r`` against ``z``).

    Parameters
    ----------
    r : array_like
        Radii of the stellar circle (≥ 0).
    k : float
        The planet's radius (> 0).
    z : array_like
        Centre-to-centre distances (≥ 0).
    """
    r_, z_ = np.broadcast_arrays(np.asarray(r, dtype=np.float64), np.asarray(z, dtype=np.float64))
    out = np.zeros(r_.shape)
    inside = z_ <= np.abs(r_ - k)  # one disc wholly inside the other
    out[inside] = np.pi * np.minimum(r_[inside], k) ** 2
    part = ~inside & (z_ < r_ + k) & (r_ > 0)
    rr, zz = r_[part], z_[part]
    a1 = np.clip((zz ** 2 + rr ** 2 - k ** 2) / (2.0 * zz * rr), -1.0, 1.0)
    a2 = np.clip((zz ** 2 + k ** 2 - rr ** 2) / (2.0 * zz * k), -1.0, 1.0)
    kite = (-zz + rr + k) * (zz + rr - k) * (zz - rr + k) * (zz + rr + k)
    out[part] = rr ** 2 * np.arccos(a1) + k ** 2 * np.arccos(a2) - 0.5 * np.sqrt(np.clip(kite, 0.0, None))
    return out


def _separation(t: npt.NDArray[np.float64], *, t0: float, t14_days: float, k: float,
                b: float) -> npt.NDArray[np.float64]:
    half_chord = np.sqrt((1.0 + k) ** 2 - b ** 2)
    x = half_chord * 2.0 * (t - t0) / t14_days
    return np.sqrt(b ** 2 + x ** 2)


def transit_flux(times_mjd: npt.ArrayLike, *, depth: float, t0: float, t14: float, u1: float = 0.0,
                 u2: float = 0.0, b: float = 0.0, n_annuli: int = 1000) -> npt.NDArray[np.float64]:
    """Relative flux of a transited star at each time (1 out of transit).

    Parameters
    ----------
    times_mjd : array_like
        Times, MJD (days): integration mid-times.
    depth : float
        ``(Rp/R*)²``, 0 ≤ depth < 1 (0: no transit).
    t0 : float
        Mid-transit time, MJD.
    t14 : float
        Total duration, first to fourth contact, seconds (> 0).
    u1, u2 : float
        Quadratic limb-darkening coefficients (0, 0: a uniform disc).
    b : float
        Impact parameter, stellar radii, 0 ≤ b < 1 + sqrt(depth).
    n_annuli : int
        Annuli of the numerical integration over the stellar disc.

    Returns
    -------
    ndarray, float64, the shape of ``times_mjd``

    Raises
    ------
    ValueError
        A parameter out of its range. Not retriable.
    """
    t = np.asarray(times_mjd, dtype=np.float64)
    if not 0.0 <= depth < 1.0 or not t14 > 0 or n_annuli < 10:
        raise ValueError(f"transit_flux needs 0 <= depth < 1, t14 > 0 and n_annuli >= 10 (depth {depth}, t14 {t14}, "
                         f"n_annuli {n_annuli})")
    k = float(np.sqrt(depth))
    if not 0.0 <= b < 1.0 + k:
        raise ValueError(f"impact parameter {b} is outside 0 <= b < 1 + sqrt(depth) = {1 + k:.6g}: no transit")
    flux = np.ones(t.shape)
    if depth == 0.0:
        return flux
    z = _separation(t, t0=t0, t14_days=t14 / _SECONDS_PER_DAY, k=k, b=b)
    during = z < 1.0 + k
    if not during.any():
        return flux
    # annulus edges uniform in μ: the steep limb (μ → 0) gets as many annuli as the centre
    mu_edges = np.linspace(1.0, 0.0, n_annuli + 1)
    r_edges = np.sqrt(1.0 - mu_edges ** 2)
    r_mid = 0.5 * (r_edges[1:] + r_edges[:-1])
    mu_mid = np.sqrt(1.0 - r_mid ** 2)
    intensity = 1.0 - u1 * (1.0 - mu_mid) - u2 * (1.0 - mu_mid) ** 2
    area = occulted_area(r_edges[None, :], k, z[during][:, None])
    # the planet may reach beyond the limb: area outside r = 1 is not starlight
    blocked = np.clip((np.diff(area, axis=1) * intensity[None, :]).sum(axis=1), 0.0, None)  # rounding at contact
    total = np.pi * (1.0 - u1 / 3.0 - u2 / 6.0)
    flux[during] = 1.0 - blocked / total
    return flux


class TransitFit(NamedTuple):
    """A fitted transit: depth (``(Rp/R*)²``), mid-time (MJD) and out-of-transit flux, with 1σ errors (from the
    fit's covariance, scaled by the reduced χ² when it exceeds 1), and the reduced χ² and residual scatter."""

    depth: float
    depth_err: float
    t0: float
    t0_err: float
    baseline: float
    baseline_err: float
    chi2_reduced: float
    residual_rms: float  # of flux / (baseline × model) − 1


def fit_transit(times_mjd: npt.ArrayLike, flux: npt.ArrayLike, error: npt.ArrayLike, *, t14: float,
                u1: float = 0.0, u2: float = 0.0, b: float = 0.0, depth0: float = 0.01,
                t0_guess: float | None = None) -> TransitFit:
    """Least-squares fit of ``baseline × transit_flux(t; depth, t0)`` with the duration, impact parameter and
    limb darkening held fixed (the usual white-light fit of a known planet).

    Parameters
    ----------
    times_mjd, flux, error : array_like
        One value per integration (non-finite points are left out).
    t14, u1, u2, b : float
        The fixed shape (seconds, coefficients, stellar radii).
    depth0 : float
        Starting depth.
    t0_guess : float, optional
        Starting mid-time (default: the middle of the times).

    Raises
    ------
    ValueError
        Fewer than four usable points. Not retriable.
    """
    t, f, e = (np.asarray(a, dtype=np.float64) for a in (times_mjd, flux, error))
    good = np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0)
    if good.sum() < 4:
        raise ValueError(f"a transit fit needs at least 4 usable points, got {int(good.sum())}")
    t, f, e = t[good], f[good], e[good]
    day = 86400.0
    centre = float(np.median(t)) if t0_guess is None else t0_guess
    scale = float(np.median(f))

    since = t - centre  # days from the guess: MJD itself is too coarse for the fit's finite differences

    def model(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        depth, dt0, base = p
        return base * scale * transit_flux(since, depth=depth, t0=dt0 / day, t14=t14, u1=u1, u2=u2, b=b)

    fit = least_squares(lambda p: (f - model(p)) / e, x0=[depth0, 0.0, 1.0],
                        bounds=([0.0, -t14, 0.5], [0.5, t14, 2.0]), x_scale=[1e-3, 10.0, 1e-3])
    dof = max(1, t.size - 3)
    chi2 = float(np.sum(fit.fun ** 2) / dof)
    jac = fit.jac
    cov = np.linalg.pinv(jac.T @ jac) * max(1.0, chi2)
    errs = np.sqrt(np.diag(cov))
    depth, dt0, base = fit.x
    rms = float(np.std(f / model(fit.x) - 1.0))
    return TransitFit(float(depth), float(errs[0]), centre + float(dt0) / day, float(errs[1]) / day,
                      float(base * scale), float(errs[2] * scale), chi2, rms)
