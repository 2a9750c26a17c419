"""General segment fit for :mod:`streamcal.kernels.ramp.ramp_fit`: any number of segments per pixel.

Segments follow stcal 1.20 ``compute_integration_segments`` and ``prune_segment_list``: a segment is a run of
groups whose DQ (PERSISTENCE ignored) is 0, extended backwards by one group when that group's DQ is exactly
JUMP_DET (the jump group starts the next segment); if any segment has ≥ 2 groups, one-group segments are dropped,
otherwise only the first is kept. All segments of all pixels are labelled at once and summed with ``np.bincount``,
so the cost is linear in the number of groups of the (few) pixels sent here. The fit itself is described in
``_ramp_segments``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._ramp_segments import (
    _JUMP,
    _NOT_PERS,
    _POWERS,
    PixelInfo,
    Sums,
    combine,
    power_index,
    variances,
)

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]


def _segments(raw: npt.NDArray[np.uint8], suppressed: npt.NDArray[np.bool_]) -> tuple[Index, Index, Index]:
    """Kept segments as (pixel, first group, length), ordered by pixel then group."""
    ngroups, npix = raw.shape
    q = raw & _NOT_PERS
    good = (q == 0) & ~suppressed
    is_jump = q == _JUMP
    jump_start = np.zeros_like(good)
    jump_start[:-1] = is_jump[:-1] & good[1:]
    opens = good.copy()
    opens[1:] &= ~good[:-1] & ~is_jump[:-1]
    opens |= jump_start
    member = (good | jump_start).T.ravel()
    seg_of_entry = np.cumsum(opens.T.ravel()) - 1
    starts = np.flatnonzero(opens.T.ravel())
    pix, first = np.divmod(starts, ngroups)
    length = np.bincount(seg_of_entry[member], minlength=starts.size)
    longest = np.zeros(npix, np.intp)
    np.maximum.at(longest, pix, length)
    leading = np.ones(starts.size, bool)
    leading[1:] = pix[1:] != pix[:-1]
    keep = (length >= 2) | ((longest[pix] < 2) & leading)
    return pix[keep], first[keep], length[keep]


def _weighted_slopes(values: F64, pix: Index, first: Index, length: Index, info: PixelInfo) -> F64:
    """Optimally weighted OLS slope per group for segments of ≥ 3 groups (others get NaN)."""
    slopes = np.full(pix.size, np.nan)
    long = np.flatnonzero(length >= 3)
    if long.size == 0:
        return slopes
    n = length[long]
    seg = np.repeat(np.arange(long.size), n)
    j = np.arange(seg.size) - np.repeat(np.cumsum(n) - n, n)
    x = (j + np.repeat(first[long], n)).astype(np.float64)
    sub_pix = pix[long]
    y = values[x.astype(np.intp), np.repeat(sub_pix, n)]
    delta = values[first[long] + n - 1, sub_pix] - values[first[long], sub_pix]
    sub_info = PixelInfo(*(a[sub_pix] for a in info))
    power = _POWERS[np.repeat(power_index(delta, sub_info), n)]
    mid = np.repeat((n - 1) / 2.0, n)
    w = np.power(np.abs((j - mid) * (1.0 / mid)).astype(np.float32), power).astype(np.float64)
    y = np.where(np.isnan(y), 0.0, y)
    sw, swx, swxx, swy, swxy = (np.bincount(seg, weights=v, minlength=long.size)
                                for v in (w, w * x, w * x * x, w * y, w * x * y))
    slopes[long] = (sw * swxy - swx * swy) / (sw * swxx - swx * swx)
    return slopes


def fit_general(
    values: F32, raw: npt.NDArray[np.uint8], suppressed: npt.NDArray[np.bool_], tau1: F64, info: PixelInfo,
    *, group_time: float,
) -> Sums:
    """Segment sums for pixels of arbitrary DQ; ``values``/``raw`` shape ``(ngroups, M)``, others ``(M,)``."""
    npix = raw.shape[1]
    pix, first, length = _segments(raw, suppressed)
    y = values.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = _weighted_slopes(y, pix, first, length, info) / group_time
        two = length == 2
        slope[two] = (y[first[two] + 1, pix[two]] - y[first[two], pix[two]]) / group_time
        one = length == 1
        slope[one] = y[first[one], pix[one]] / tau1[pix[one]]
    tau = np.where(one, tau1[pix], group_time)
    var_p, var_r = variances(length, tau, PixelInfo(*(a[pix] for a in info)))
    terms = combine(slope, var_p, var_r)
    inv_r, inv_p, inv_e, slope_r = (np.bincount(pix, weights=t, minlength=npix).astype(np.float64) for t in terms)
    return Sums(inv_r, inv_p, inv_e, slope_r, np.bincount(pix, minlength=npix) > 0)
