"""A companion in a PSF-subtracted image: position and flux by forward modelling, S/N against the annulus.

- :func:`fit_companion`: least-squares fit of ``flux × model(x, y) + constant`` over a box of ±``half`` px
  around the guess, ``model(x, y)`` being the unit-flux companion *as the PSF subtraction leaves it*. With
  reference-star KLIP the KL basis comes from the references alone, so the subtraction is linear in the science
  image and the model is exact: a model PSF at ``(x, y)`` put through the same projection (what injecting a fake
  there and differencing the two results gives). The fitted flux is therefore corrected for KLIP's
  over-subtraction at the companion's own position, and the fitted position for the distortion it causes
  (Pueyo 2016, ApJ 824 117, whose perturbation terms vanish when the basis holds no companion).
- :func:`measure_companion`: the sum in a circular aperture (pixel overlap from 8×8 sub-sampling) at a given
  position minus the mean of background apertures of the same radius at the same separation from the star, the
  companion's and its two neighbours excluded; noise = std(background sums)·√(1 + 1/n) and S/N = flux / noise
  (Mawet et al. 2014, ApJ 792 97: the small-sample penalty of the t-statistic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

__all__ = ["CompanionFit", "CompanionMeasurement", "aperture_sum", "fit_companion", "measure_companion"]

F64 = npt.NDArray[np.float64]
_SUB = 8


class CompanionMeasurement(NamedTuple):
    """What :func:`measure_companion` found."""

    flux: float  # aperture sum minus the background apertures' mean, image units × px
    noise: float  # of ``flux``
    snr: float
    n_background: int


class CompanionFit(NamedTuple):
    """What :func:`fit_companion` found: the position (0-based px), the flux (in the model's unit: ``flux × model``
    matches the data) and the local constant."""

    x: float
    y: float
    flux: float
    background: float


def aperture_sum(image: npt.ArrayLike, x: float, y: float, radius: float) -> float:
    """Sum of ``image`` (2-D) in a circle (pixel overlap from 8×8 sub-sampling); non-finite pixels count as 0."""
    data = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    ny, nx = data.shape
    x0, x1 = max(0, math.floor(x - radius - 1)), min(nx, math.ceil(x + radius + 2))
    y0, y1 = max(0, math.floor(y - radius - 1)), min(ny, math.ceil(y + radius + 2))
    offsets = (np.arange(_SUB) + 0.5) / _SUB - 0.5
    yy, xx = np.mgrid[y0:y1, x0:x1]
    sy = yy[:, :, None, None] + offsets[None, None, :, None]
    sx = xx[:, :, None, None] + offsets[None, None, None, :]
    frac = (((sx - x) ** 2 + (sy - y) ** 2) <= radius * radius).mean(axis=(2, 3))
    return float(np.sum(frac * data[y0:y1, x0:x1]))


def fit_companion(image: npt.ArrayLike, model: Callable[[float, float], F64], *, x: float, y: float,
                  half: int) -> CompanionFit:
    """Fit ``flux × model(x, y) + background`` to ``image`` around ``(x, y)``.

    Parameters
    ----------
    image : ndarray (ny, nx)
        The PSF-subtracted image (NaN where there is none).
    model : callable
        ``model(x, y)`` → (ny, nx) float64: the unit-flux companion at ``(x, y)`` after the PSF subtraction.
    x, y : float
        The starting position, 0-based px.
    half : int
        Half-size of the fitted box, px.

    Raises
    ------
    ValueError
        The box has fewer finite pixels than parameters. Not retriable.
    """
    data = np.asarray(image, dtype=np.float64)
    ny, nx = data.shape
    ix, iy = round(x), round(y)
    box = (slice(max(0, iy - half), min(ny, iy + half + 1)), slice(max(0, ix - half), min(nx, ix + half + 1)))
    stamp = data[box]
    good = np.isfinite(stamp)
    if np.count_nonzero(good) <= 4:
        raise ValueError(f"fit_companion: {np.count_nonzero(good)} finite pixels around ({x:.1f}, {y:.1f})")

    def residual(p: F64) -> F64:
        m = model(float(p[0]), float(p[1]))[box]
        out: F64 = np.where(good & np.isfinite(m), stamp - p[2] * np.nan_to_num(m) - p[3], 0.0)[good]
        return out

    unit = model(x, y)[box]
    flux0 = float(np.nansum(stamp * unit) / max(float(np.nansum(unit * unit)), 1e-300))
    fit = least_squares(residual, x0=np.array([x, y, flux0, 0.0]), x_scale=np.array([0.1, 0.1, abs(flux0) or 1.0,
                                                                                     1.0]))
    return CompanionFit(*(float(v) for v in fit.x))


def measure_companion(image: npt.ArrayLike, *, x: float, y: float, star: tuple[float, float],
                      radius: float) -> CompanionMeasurement:
    """Aperture flux and S/N of a companion at ``(x, y)`` (0-based px) in a PSF-subtracted 2-D image.

    Parameters
    ----------
    image : ndarray (ny, nx)
        NaN where there is no data (the coronagraph core, the edges).
    x, y : float
        The companion's position (the aperture's centre).
    star : tuple of float
        The star's (x, y): the centre of the annulus.
    radius : float
        Aperture radius, px.

    Raises
    ------
    ValueError
        Fewer than 2 background apertures fit on the annulus. Not retriable.
    """
    data = np.asarray(image, dtype=np.float64)
    sep = math.hypot(x - star[0], y - star[1])
    theta0 = math.atan2(y - star[1], x - star[0])
    n_total = math.floor(2 * math.pi * sep / (2 * radius))
    step = 2 * math.pi / max(n_total, 1)
    sums = []
    for j in range(2, n_total - 1):  # j = 0 the companion, 1 and n−1 its neighbours
        ax, ay = star[0] + sep * math.cos(theta0 + j * step), star[1] + sep * math.sin(theta0 + j * step)
        if 0 <= ax < data.shape[1] and 0 <= ay < data.shape[0]:
            sums.append(aperture_sum(data, ax, ay, radius))
    if len(sums) < 2:
        raise ValueError(f"only {len(sums)} background apertures of radius {radius} fit at separation {sep:.2f} px")
    bg = np.asarray(sums)
    flux = aperture_sum(data, x, y, radius) - float(bg.mean())
    noise = float(bg.std(ddof=1)) * math.sqrt(1.0 + 1.0 / bg.size)
    return CompanionMeasurement(flux, noise, flux / noise if noise > 0 else math.inf, int(bg.size))
