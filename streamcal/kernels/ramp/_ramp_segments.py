"""Segment fits for :mod:`streamcal.kernels.ramp.ramp_fit`: a fast path for one-segment ramps and a general path.

Both return, per pixel of one integration, the inverse-variance sums that stcal (``slope_fitter.c``,
``ramp_fit_pixel_integration_fit_slope``) accumulates over segments: ``Σ 1/var_r``, ``Σ 1/var_p`` (over
``var_p > 0``), ``Σ 1/(var_p + var_r)`` and ``Σ slope/var_r``.

Per segment of ``n`` groups (``t`` = group time, ``g`` = gain, ``R`` = per-group read noise in e⁻):

- ``n ≥ 3``: optimally weighted OLS, weights ``|(j − m)/m|^P`` (``m = (n − 1)/2``, computed in single precision
  like stcal's ``powf``) with ``P`` from the segment's S/N ``Δg/√(R² + Δg)``, ``Δ`` = last − first value:
  0, 0.4, 1, 3, 6, 10 for S/N below 5, 10, 20, 50, 100 and above;
- ``n = 2``: the difference over ``t``; ``n = 1``: the value over ``t`` (over ``(NFRAMES+1)·TFRAME/2`` when only
  group 0 is good);
- ``var_r = 12 R² / (τ² g² c)`` with ``c = n³ − n`` (6 for ``n ≤ 2``), ``τ`` the time above (0 for bad gain and
  ``n ≥ 3``); ``var_p = (median_rate + dark) / (τ g max(n − 1, 1))``, with ``median_rate`` dropped when ≤ 0.

The fast path writes the weighted fit as ``Σ_k C[L, P, k]·(y_k − y_0)``: one table gather and one multiply–add per
group in float32 (centring on ``y_0`` keeps float32 sums exact to ~1e-7 of the slope).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._order import take_rows

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

_POWERS = np.array([0.0, 0.4, 1.0, 3.0, 6.0, 10.0], np.float32)
_SNR_EDGES = (5.0, 10.0, 20.0, 50.0, 100.0)
_NOT_PERS = np.uint8(~np.uint8(Pixel.PERSISTENCE))
_JUMP = np.uint8(Pixel.JUMP_DET)


class PixelInfo(NamedTuple):
    """Per-pixel constants, shape ``(M,)``, float64."""

    gain: F64
    rnoise: F64  #: per-group read noise in electrons, readnoise_cds·gain/√(2·NFRAMES)
    dark: F64
    median_rate: F64


class Sums(NamedTuple):
    """Inverse-variance sums over the segments of one integration, shape ``(M,)``, float64."""

    inv_r: F64
    inv_p: F64
    inv_e: F64
    slope_r: F64  #: Σ slope/var_r (DN/s per variance)
    has_segment: npt.NDArray[np.bool_]


def coefficient_table(ngroups: int) -> F32:
    """``C[k, L·6 + p]``: the slope-per-group coefficient of group ``k`` for a segment ``[0, L)`` with power ``p``."""
    table = np.zeros((ngroups, (ngroups + 1) * len(_POWERS)), np.float64)
    if ngroups >= 2:
        table[0, 12:18], table[1, 12:18] = -1.0, 1.0
    for n in range(3, ngroups + 1):
        j = np.arange(n, dtype=np.float64)
        mid = (n - 1) / 2.0
        base = np.abs((j - mid) * (1.0 / mid)).astype(np.float32)
        for p, power in enumerate(_POWERS):
            w = np.power(base, power).astype(np.float64)
            sw, swx, swxx = w.sum(), (w * j).sum(), (w * j * j).sum()
            table[:n, n * len(_POWERS) + p] = (sw * w * j - swx * w) / (sw * swxx - swx * swx)
    return table.astype(np.float32)


def power_index(delta: F64, info: PixelInfo) -> Index:
    """Index into ``_POWERS`` from the segment S/N (NaN S/N → the last power, as stcal's comparisons fall through)."""
    electrons = delta * info.gain
    den = info.rnoise * info.rnoise + electrons
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where((den <= 0) | (info.gain == 0), 0.0, np.maximum(electrons / np.sqrt(den), 0.0))
    idx = sum((snr >= edge).astype(np.intp) for edge in _SNR_EDGES)
    return np.where(np.isnan(snr), len(_POWERS) - 1, idx)


def variances(n: Index, tau: F64 | float, info: PixelInfo) -> tuple[F64, F64]:
    """Poisson and read-noise variance (DN²/s²) of segments of ``n`` groups timed by ``tau``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(info.median_rate > 0, info.median_rate + info.dark, info.dark)
        var_p = rate / (tau * info.gain * np.maximum(n - 1, 1))
        cube = np.where(n >= 3, n * n * n - n, 6).astype(np.float64)
        var_r = 12.0 * info.rnoise * info.rnoise / (tau * tau * info.gain * info.gain * cube)
    bad_gain = ~(info.gain > 0)
    var_r[(n >= 3) & bad_gain] = 0.0
    return var_p, var_r


def combine(slope: F64, var_p: F64, var_r: F64) -> tuple[F64, F64, F64, F64]:
    """Per-segment terms of the integration sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 / var_r, np.where(var_p > 0, 1.0 / var_p, 0.0), 1.0 / (var_p + var_r), slope / var_r


def fit_simple(
    values: F32, lead: Index, tau1: F64, table: F32, info: PixelInfo, *, group_time: float
) -> Sums:
    """One segment ``[0, lead)`` per pixel; ``values`` shape ``(ngroups, M)``. Non-finite results mark NaN input."""
    first = values[0]
    last = take_rows(values, lead - 1)
    delta = last.astype(np.float64) - first
    cls = lead * len(_POWERS) + power_index(delta, info)
    acc = np.zeros(values.shape[1], np.float32)
    for k in range(1, int(lead.max(initial=0))):
        acc += np.take(table[k], cls) * (values[k] - first)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(lead >= 2, acc / group_time, first / tau1)
    tau = np.where(lead >= 2, group_time, tau1)
    var_p, var_r = variances(lead, tau, info)
    inv_r, inv_p, inv_e, slope_r = combine(slope, var_p, var_r)
    has = lead >= 1
    return Sums(np.where(has, inv_r, 0.0), np.where(has, inv_p, 0.0), np.where(has, inv_e, 0.0),
                np.where(has, slope_r, 0.0), has)
