"""Aperture photometry of a time series at one position (jwst's tso_photometry, jwst_spec §5.12).

1. Centroid: in each integration, the centre of mass of the background-subtracted ``fit_box`` × ``fit_box``
   pixels around the start position (the background is the box's median outside the aperture radius); the
   aperture sits at the median of the centroids over the integrations (jwst's ``moving_centroid=False``).
2. Per integration: ``aperture_sum`` over a circle of ``radius`` and ``annulus_sum`` over the annulus
   ``radius_inner``–``radius_outer``, each pixel weighted by its exact overlap (photutils' ``exact`` masks);
   non-finite pixels take no part (jwst's NaN masking). ``annulus_mean = annulus_sum / usable annulus area``,
   ``aperture_bkg = annulus_mean × aperture area``, ``net_aperture_sum = aperture_sum − aperture_bkg``. Errors
   are ``sqrt(Σ w² var)`` and propagate the same way.

Simplified: a centre-of-mass centroid only (jwst refines it with a fit in ``fit_box_width``; no Gaussian fit),
and the aperture's area is the geometric one (jwst's too). The kernel is unit-agnostic:
the caller converts MJy/sr to Jy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from photutils.aperture import CircularAnnulus, CircularAperture

__all__ = ["TsoPhotometry", "tso_aperture_photometry"]

Array = npt.NDArray[np.float64]


class TsoPhotometry(NamedTuple):
    """Per-integration photometry (every array has one value per integration) and where it was measured."""

    x: float  # aperture centre, 0-based pixels
    y: float
    aperture_sum: Array
    aperture_sum_err: Array
    annulus_sum: Array
    annulus_sum_err: Array
    annulus_mean: Array
    annulus_mean_err: Array
    aperture_bkg: Array
    aperture_bkg_err: Array
    net_aperture_sum: Array
    net_aperture_sum_err: Array
    centroid_x: Array  # per integration, before the median
    centroid_y: Array


def _centroids(sci: npt.NDArray[np.float32], x0: float, y0: float, *, fit_box: int,
               radius: float) -> tuple[Array, Array]:
    nints, ny, nx = sci.shape
    half = fit_box // 2
    xc, yc = round(x0), round(y0)
    xs, ys = slice(max(0, xc - half), min(nx, xc + half + 1)), slice(max(0, yc - half), min(ny, yc + half + 1))
    box = np.asarray(sci[:, ys, xs], dtype=np.float64)
    yy, xx = np.mgrid[ys, xs].astype(np.float64)
    outside = np.hypot(xx - x0, yy - y0) > radius
    cx, cy = np.full(nints, x0), np.full(nints, y0)
    for i in range(nints):
        plane = box[i]
        finite = np.isfinite(plane)
        ring = plane[outside & finite]
        level = float(np.median(ring)) if ring.size else 0.0
        weight = np.where(finite, np.clip(plane - level, 0.0, None), 0.0)
        total = weight.sum()
        if total > 0:
            cx[i], cy[i] = (weight * xx).sum() / total, (weight * yy).sum() / total
    return cx, cy


def _weights(aperture: CircularAperture | CircularAnnulus, shape: tuple[int, int]) -> Array:
    return np.asarray(aperture.to_mask(method="exact").to_image(shape), dtype=np.float64)


def tso_aperture_photometry(sci: npt.NDArray[np.float32], var: npt.NDArray[np.float32], *, x: float, y: float,
                            radius: float = 3.0, radius_inner: float = 4.0, radius_outer: float = 5.0,
                            centroid: bool = True, fit_box: int = 11) -> TsoPhotometry:
    """Aperture and annulus photometry of every integration of a cube at one (centroided) position.

    Parameters
    ----------
    sci, var : ndarray, shape (nints, ny, nx), float32
        The data and their total variance.
    x, y : float
        Start position (0-based pixels): the target's.
    radius, radius_inner, radius_outer : float
        Aperture radius and background annulus, pixels (jwst's defaults 3, 4, 5).
    centroid : bool
        Centroid on the source (jwst's ``centroid_source``); False measures at ``(x, y)``.
    fit_box : int
        Width of the centroid box, pixels.

    Returns
    -------
    TsoPhotometry

    Raises
    ------
    ValueError
        Not a cube, shapes differ, radii not 0 < radius <= radius_inner < radius_outer, or the position is off
        the image. Not retriable.
    """
    if sci.ndim != 3 or var.shape != sci.shape:
        raise ValueError(f"tso photometry needs sci and var of one (nints, ny, nx) shape: {sci.shape}, {var.shape}")
    if not 0 < radius <= radius_inner < radius_outer:
        raise ValueError(f"radii must satisfy 0 < radius <= radius_inner < radius_outer ({radius}, {radius_inner}, "
                         f"{radius_outer})")
    ny, nx = sci.shape[1:]
    if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
        raise ValueError(f"the target position ({x:.2f}, {y:.2f}) is off the {nx}×{ny} image")
    cx, cy = (_centroids(sci, x, y, fit_box=fit_box, radius=radius) if centroid
              else (np.full(sci.shape[0], x), np.full(sci.shape[0], y)))
    xm, ym = float(np.median(cx)), float(np.median(cy))
    aperture = CircularAperture((xm, ym), r=radius)
    annulus = CircularAnnulus((xm, ym), r_in=radius_inner, r_out=radius_outer)
    w_ap, w_an = _weights(aperture, (ny, nx)), _weights(annulus, (ny, nx))
    data = np.asarray(sci, dtype=np.float64)
    variance = np.asarray(var, dtype=np.float64)
    finite = np.isfinite(data) & np.isfinite(variance)
    data, variance = np.where(finite, data, 0.0), np.where(finite, variance, 0.0)
    ap_sum = np.einsum("iyx,yx->i", data, w_ap)
    ap_err = np.sqrt(np.einsum("iyx,yx->i", variance, w_ap ** 2))
    an_sum = np.einsum("iyx,yx->i", data, w_an)
    an_err = np.sqrt(np.einsum("iyx,yx->i", variance, w_an ** 2))
    an_area = np.einsum("iyx,yx->i", finite.astype(np.float64), w_an)  # the annulus' usable area
    with np.errstate(invalid="ignore", divide="ignore"):
        an_mean, an_mean_err = an_sum / an_area, an_err / an_area
    bkg, bkg_err = an_mean * aperture.area, an_mean_err * aperture.area
    return TsoPhotometry(xm, ym, ap_sum, ap_err, an_sum, an_err, an_mean, an_mean_err, bkg, bkg_err, ap_sum - bkg,
                         np.hypot(ap_err, bkg_err), cx, cy)
