"""resample_spectrum: a 1-D spectrum onto another wavelength grid (calwebb_spec3's combine_1d of WFSS, issue 11).

The spectra combine_1d averages for one WFSS source come from different exposures and grisms (NIRISS GR150R
disperses along y, GR150C along x; each puts the source at its own sub-pixel phase), so their wavelengths differ
by fractions of a pixel. Each is moved onto the common grid by linear interpolation of the flux density between
the two input points that bracket a grid wavelength, ``F = (1 − f) F_i + f F_{i+1}``; the variances take the
squared weights (the input points are independent, so each output point's variance is right; neighbouring
output points are correlated). DQ is the OR of the taps with non-zero weight. An output point is NaN and
DO_NOT_USE where a tap with non-zero weight is unusable (DO_NOT_USE or not finite) or the grid wavelength lies
outside the input's first and last wavelengths. A grid that samples the input's own wavelengths returns the
input unchanged. Inputs may run in decreasing wavelength (GR150R) and are never modified.

Against jwst: its combine_1d assigns each input point to the nearest output pixel (``round``), which moves
wavelengths by up to half a pixel; interpolation keeps line centres where they are.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["ResampledSpectrum", "resample_spectrum"]

F64 = npt.NDArray[np.float64]
_DNU = np.uint32(Pixel.DO_NOT_USE)


class ResampledSpectrum(NamedTuple):
    """A spectrum on the grid, each array of the grid's shape ``(ngrid,)``; ``covered`` says which grid points
    lie inside the input's wavelength range."""

    flux: F64
    variance: F64
    surf_bright: F64
    sb_variance: F64
    dq: npt.NDArray[np.uint32]
    covered: npt.NDArray[np.bool_]


def resample_spectrum(wavelength: npt.ArrayLike, flux: npt.ArrayLike, variance: npt.ArrayLike,
                      dq: npt.ArrayLike, *, grid: npt.ArrayLike, surf_bright: npt.ArrayLike | None = None,
                      sb_variance: npt.ArrayLike | None = None) -> ResampledSpectrum:
    """Linear interpolation of a spectrum onto ``grid`` (module docstring).

    Parameters
    ----------
    wavelength, flux, variance : array_like, shape (n,)
        The input's wavelengths (monotonic, either direction; NaN points are dropped), flux density and its
        variance.
    dq : array_like, shape (n,), uint32
    grid : array_like, shape (ngrid,)
        The output wavelengths, any order.
    surf_bright, sb_variance : array_like, shape (n,), optional
        Resampled like flux and variance; NaN when not given.

    Raises
    ------
    ValueError
        Arrays of different lengths, fewer than two finite wavelengths, or wavelengths that are not strictly
        monotonic. Not retriable.
    """
    w = np.asarray(wavelength, dtype=np.float64)
    n = w.size
    f, v = np.asarray(flux, dtype=np.float64), np.asarray(variance, dtype=np.float64)
    q = np.asarray(dq, dtype=np.uint32)
    sb = np.full(n, np.nan) if surf_bright is None else np.asarray(surf_bright, dtype=np.float64)
    sbv = np.full(n, np.nan) if sb_variance is None else np.asarray(sb_variance, dtype=np.float64)
    if not all(a.shape == (n,) for a in (f, v, q, sb, sbv)):
        raise ValueError("a spectrum's columns must share one length")
    order = np.argsort(w)
    order = order[np.isfinite(w[order])]  # increasing, NaN wavelengths dropped
    w, f, v, sb, sbv = w[order], f[order], v[order], sb[order], sbv[order]
    q = q[order]
    if w.size < 2 or not np.all(np.diff(w) > 0):
        raise ValueError("resampling needs at least two strictly monotonic finite wavelengths")
    g = np.asarray(grid, dtype=np.float64)
    covered = (g >= w[0]) & (g <= w[-1])
    i = np.clip(np.searchsorted(w, g, side="right") - 1, 0, w.size - 2)
    frac = np.clip((g - w[i]) / (w[i + 1] - w[i]), 0.0, 1.0)
    weights = ((1.0 - frac, i), (frac, i + 1))
    usable = ((q & _DNU) == 0) & np.isfinite(f) & np.isfinite(v)
    ok = covered.copy()
    out_dq = np.zeros(g.shape, np.uint32)
    for weight, tap in weights:
        used = weight > 0
        ok &= ~used | usable[tap]
        out_dq |= np.where(used, q[tap], 0).astype(np.uint32)

    def interpolate(values: F64, power: int) -> F64:
        total = sum(np.where(weight > 0, weight ** power * values[tap], 0.0) for weight, tap in weights)
        return np.where(ok, total, np.nan)

    with np.errstate(invalid="ignore"):
        out = ResampledSpectrum(interpolate(f, 1), interpolate(v, 2), interpolate(sb, 1), interpolate(sbv, 2),
                                np.where(ok, out_dq, out_dq | _DNU).astype(np.uint32), covered)
    return out
