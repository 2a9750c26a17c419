"""outlier_detection for dithered IFU exposures on one cube grid (jwst's ``ifu`` mode's purpose, ``jwst_spec.md``
§1.7; issue 11).

Each member's good pixels are drizzled onto the common (alpha, beta, λ) grid (:mod:`streamcal.kernels.spec.cube`:
one resampling matrix per member). For member m:

1. the median cube of the *other* members (NaN-aware, voxels no other member reaches stay NaN) and its variance,
   ``mean(var_k) / n`` over the n other members that reach the voxel (×π/2 for n ≥ 3, the median's);
2. ``deriv``: the median cube's largest absolute difference to its six neighbours (±alpha, ±beta, ±λ), which
   stands for the sampling error of a steep PSF core or line when it is resampled twice;
3. the three cubes are blotted back onto m's pixels: a pixel takes the mean of the voxels it overlaps, weighted by
   the overlap volume (the resampling matrix transposed), ``b``, ``d`` and ``var_b`` (the variances' weighted
   mean, not the variance of the weighted mean: an upper bound, so the test errs towards keeping a pixel);
4. the pixel is an outlier when ``|s − b| > snr · sqrt(err² + var_b) + scale · d``.

Fewer than ``min_members`` members (3: with two, the median of "the others" is one exposure and cannot tell
which of the two is wrong) flag nothing. Inputs are never modified.

Simplified against jwst: jwst's ``ifu`` mode (jwst ≥ 1.13) compares each pixel with its neighbours across the
slices on the detector and thresholds a percentile of the differences (``threshold_percent``, ``kernel_size``);
this test is jwst's ``spec``/imaging idea (median of the resampled members, blot, compare with an error- and
derivative-scaled threshold) applied in 3-D. ``snr`` 5 and ``scale`` 1.2 are jwst's imaging first-pass values;
no second, grown pass [U].
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.spec.cube import CubeWeights, resample

__all__ = ["IfuOutliers", "flag_ifu_outliers"]

F64 = npt.NDArray[np.float64]


class IfuOutliers(NamedTuple):
    """Per member, the outlier mask over its pixels (True = outlier) and its count."""

    masks: list[npt.NDArray[np.bool_]]
    n_flagged: list[int]


def _deriv(cube: F64) -> F64:
    """The largest absolute difference of each voxel to its six neighbours (NaN neighbours ignored; 0 if none)."""
    out = np.zeros_like(cube)
    for axis in range(3):
        for shift in (1, -1):
            neighbour = np.full_like(cube, np.nan)
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[axis] = slice(None, -1) if shift == 1 else slice(1, None)
            dst[axis] = slice(1, None) if shift == 1 else slice(None, -1)
            neighbour[tuple(dst)] = cube[tuple(src)]
            diff = np.abs(cube - neighbour)
            out = np.where(np.isfinite(diff) & (diff > out), diff, out)
    return out


def _blot(weights: CubeWeights, cubes: Sequence[F64]) -> tuple[F64, list[F64]]:
    """Each cube's overlap-weighted mean over the voxels each pixel overlaps (finite voxels of the first cube
    only), and the weights' total per pixel (0: the pixel overlaps no such voxel)."""
    # the matrix rows are normalized per voxel; the raw overlap of pixel i with voxel j is R_ji × total_j, and
    # total_j is the voxel's coverage (up to the voxel volume, which cancels)
    total = weights.coverage.ravel()
    finite = np.isfinite(cubes[0].ravel())
    w = np.where(finite, total, 0.0)
    transpose = weights.matrix.T.tocsr()
    norm = np.asarray(transpose @ w)
    out = []
    for cube in cubes:
        filled = np.where(finite, cube.ravel(), 0.0)
        out.append(np.divide(np.asarray(transpose @ (w * filled)), norm, out=np.full(norm.shape, np.nan),
                             where=norm > 0))
    return norm, out


def flag_ifu_outliers(values: Sequence[npt.ArrayLike], variances: Sequence[npt.ArrayLike],
                      weights: Sequence[CubeWeights], *, snr: float = 5.0, scale: float = 1.2,
                      min_members: int = 3) -> IfuOutliers:
    """Flag pixels of IFU members that deviate from the other members' median cube (module docstring).

    Parameters
    ----------
    values, variances : sequences of array-like, shape (npix_m,)
        Each member's pixel surface brightness and total variance, in the order of its resampling matrix's
        columns.
    weights : sequence of CubeWeights
        Each member's resampling onto the one common grid.
    snr, scale : float
        Thresholds in units of the difference's error and of the median's derivative.
    min_members : int
        With fewer members nothing is flagged.

    Raises
    ------
    ValueError
        Sequences of different lengths, a member whose values do not match its matrix, or grids of different
        shapes. Not retriable.
    """
    n = len(values)
    if not n == len(variances) == len(weights):
        raise ValueError(f"{n} value arrays, {len(variances)} variance arrays and {len(weights)} resamplings")
    vals = [np.asarray(v, np.float64).ravel() for v in values]
    vars_ = [np.asarray(v, np.float64).ravel() for v in variances]
    if any(v.size != w.matrix.shape[1] or u.size != v.size for v, u, w in zip(vals, vars_, weights, strict=True)):
        raise ValueError("each member needs one value and one variance per column of its resampling matrix")
    if len({w.coverage.shape for w in weights}) > 1:
        raise ValueError("the members' resamplings are on different grids")
    if n < min_members:
        return IfuOutliers([np.zeros(v.size, bool) for v in vals], [0] * n)
    cubes = np.stack([resample(v, w) for v, w in zip(vals, weights, strict=True)])
    var_cubes = np.stack([resample(v, w, variance=True) for v, w in zip(vars_, weights, strict=True)])
    masks = []
    for m in range(n):
        others = [k for k in range(n) if k != m]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # voxels no other member reaches stay NaN
            median = np.nanmedian(cubes[others], axis=0)
            count = np.isfinite(cubes[others]).sum(axis=0)
            var_median = np.nanmean(var_cubes[others], axis=0) / np.maximum(count, 1)
        var_median = np.where(count >= 3, var_median * (math.pi / 2), var_median)
        norm, (blotted, deriv, var_b) = _blot(weights[m], [median, _deriv(median), var_median])
        with np.errstate(invalid="ignore"):
            threshold = snr * np.sqrt(vars_[m] + var_b) + scale * deriv
            mask = (norm > 0) & np.isfinite(vals[m]) & (np.abs(vals[m] - blotted) > threshold)
        masks.append(mask)
    return IfuOutliers(masks, [int(m.sum()) for m in masks])
