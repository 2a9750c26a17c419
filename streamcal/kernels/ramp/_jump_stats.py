"""Per-block statistics for :mod:`streamcal.kernels.ramp.jump` (see its docstring for the algorithm).

A block is a stack of first differences ``d`` of shape ``(K, M)``: ``K = nints · (ngroups − 1)`` differences in
electrons for ``M`` pixels, NaN where a difference is unusable. Flags come back as ``(k, m)`` index pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._order import (
    _SELECT_NETWORK_MAX,
    batcher_pairs,
    median_of_first,
    select,
    select_inplace,
    selection_ops,
    sort_nan_last,
    take_rows,
)

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]
Flags = tuple[Index, Index]

_SAT_DNU = np.uint8(Pixel.SATURATED | Pixel.DO_NOT_USE)
_JUMP = np.uint8(Pixel.JUMP_DET)
_CLIP_ITERS = 5  # astropy.stats.sigma_clip default, as stcal calls it


class Thresholds(NamedTuple):
    """Detection thresholds in σ."""

    four_plus: float  #: ≥ 4 usable differences
    three: float  #: 3 usable differences
    two: float  #: 2 usable differences
    neighbor_min: float
    neighbor_max: float
    flag_neighbors: bool


class BlockFlags(NamedTuple):
    """Primary jumps and neighbour sources of one block, as (difference, pixel) index pairs."""

    primary: Flags
    sources: Flags


def _empty() -> Flags:
    return np.empty(0, np.intp), np.empty(0, np.intp)


def block_differences(values: F32, gdq: npt.NDArray[np.uint8], gain: F32) -> tuple[F32, Index]:
    """First differences in electrons, shape ``(nints·(ngroups−1), M)``, NaN next to SAT/DNU groups.

    ``values`` and ``gdq`` have shape ``(nints, ngroups, M)``. Also returns the pixels that have such groups:
    only they are masked (a masked copy of every group would cost more than the differences).
    """
    electrons = values * gain
    diffs = (electrons[:, 1:] - electrons[:, :-1]).reshape(-1, values.shape[2])
    dirty = np.flatnonzero(np.bitwise_or.reduce(gdq, axis=(0, 1)) & _SAT_DNU)
    if dirty.size:
        sub = electrons[:, :, dirty]
        np.copyto(sub, np.float32(np.nan), where=(gdq[:, :, dirty] & _SAT_DNU) != 0)
        diffs[:, dirty] = (sub[:, 1:] - sub[:, :-1]).reshape(-1, dirty.size)
    return diffs, dirty


class Plan(NamedTuple):
    """Per-call constants: the path, thresholds and selection networks for ``K`` differences."""

    path: str
    th: Thresholds
    iter_positions: tuple[int, ...]
    iter_ops: list[tuple[int, int, bool, bool]]
    median_ops: list[tuple[int, int, bool, bool]]


def make_plan(path: str, th: Thresholds, k: int) -> Plan:
    """Selection networks for the iterative first pass and for the plain median of ``k`` differences."""
    positions = tuple(sorted({0, max(0, (k - 2) // 2), (k - 1) // 2, max(0, k - 2), k - 1}))
    small = k <= _SELECT_NETWORK_MAX
    return Plan(path, th, positions, selection_ops(k, positions) if small else [],
                selection_ops(k, ((k - 1) // 2, k // 2)) if small else [])


def find_block(diffs: F32, dirty: Index, later_dq: npt.NDArray[np.uint8], rn2: F64, plan: Plan) -> BlockFlags:
    """Primary flags and neighbour sources for one block.

    Parameters
    ----------
    diffs : ndarray, shape (K, M), float32
        First differences in electrons (NaN = unusable), from :func:`block_differences`.
    dirty : ndarray of intp
        Pixels with unusable differences.
    later_dq : ndarray, shape (nints, ngroups − 1, M), uint8
        GROUPDQ of the later group of each difference (input flags: JUMP_DET there counts for neighbours).
    rn2 : ndarray, shape (M,), float64
        Read-noise variance of one difference in e², ``(RN_cds · gain)² / NFRAMES``.
    plan : Plan
    """
    th = plan.th
    med: F32 | None = None
    if plan.path == "iterative":
        primary = _iterative_fast(diffs, dirty, rn2, plan)
    else:
        med, redo = _plain_median_fast(diffs, dirty, plan)
        if plan.path == "single_pass":
            primary = _single_pass(diffs, med, redo, rn2, th.four_plus)
        else:
            primary = _sigma_clip(diffs, later_dq.shape[0], th.four_plus)
    if not th.flag_neighbors:
        return BlockFlags(primary, _empty())
    return BlockFlags(primary, _sources(diffs, later_dq, primary, med, rn2, th))


def _plain_median_fast(diffs: F32, dirty: Index, plan: Plan) -> tuple[F32, Index]:
    """Median over axis 0, exact (NaN-aware) for ``dirty`` pixels and pixels with NaN data; also returns those."""
    k = diffs.shape[0]
    lo, hi = select(diffs, ((k - 1) // 2, k // 2), plan.median_ops)
    med = (lo + hi) * np.float32(0.5)
    redo = np.union1d(dirty, np.flatnonzero(np.isnan(med)))
    if redo.size:
        med[redo] = _plain_median(diffs[:, redo])
    return med, redo


def _single_pass(diffs: F32, med: F32, redo: Index, rn2: F64, threshold: float) -> Flags:
    """Flag ``|d − med| > threshold·σ``; only pixels whose largest or smallest difference exceeds are scanned."""
    limit = threshold * _sigma(med, rn2)
    worst = np.maximum(diffs.max(axis=0) - med, med - diffs.min(axis=0))
    cand = np.union1d(np.flatnonzero(worst > limit), redo)
    k, c = np.nonzero(np.abs(diffs[:, cand] - med[cand]) > limit[cand])
    return k, cand[c]


def _iterative_fast(diffs: F32, dirty: Index, rn2: F64, plan: Plan) -> Flags:
    """First pass of the iterative path over all-usable pixels; the rest and every candidate go to ``_iterative``."""
    k = diffs.shape[0]
    absd = np.abs(diffs)  # scrambled by the selection below
    picked = select_inplace(absd, np.empty_like(absd[0]), plan.iter_positions, plan.iter_ops)
    stats = dict(zip(plan.iter_positions, picked, strict=True))
    top, bot = stats[k - 1], stats[0]
    if k >= 4:
        med = (stats[(k - 2) // 2] + stats[(k - 1) // 2]) * np.float32(0.5)
        ties = np.flatnonzero(stats[k - 2] == top)
    else:
        med = stats[(k - 1) // 2] if k == 3 else bot
        ties = np.empty(0, np.intp)
    thr = plan.th.four_plus if k >= 4 else plan.th.three if k == 3 else plan.th.two
    sigma = np.sqrt(np.abs(med).astype(np.float64) + rn2)
    limit = thr * sigma
    limit[sigma == 0] = np.inf
    worst = np.maximum(np.abs(top - med), np.abs(bot - med))
    cand = np.flatnonzero(worst > limit)
    redo = np.unique(np.concatenate([dirty, ties, cand, np.flatnonzero(np.isnan(top))]))
    if redo.size == 0:
        return _empty()
    kk, c = _iterative(diffs[:, redo], rn2[redo], plan.th)
    return kk, redo[c]


def _plain_median(diffs: F32) -> F32:
    k = diffs.shape[0]
    srt, count = sort_nan_last(diffs, batcher_pairs(k) if k <= 20 else None)
    return median_of_first(srt, count)


def _sigma(med: F32, rn2: F64) -> F64:
    """σ of a difference in electrons; NaN where it is 0 (such pixels never flag)."""
    sigma = np.sqrt(np.abs(med).astype(np.float64) + rn2)
    sigma[sigma == 0] = np.nan
    return sigma


def _window_stats(srt: F32, lo: Index, hi: Index, rn2: F64, th: Thresholds) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """Ratios of the smallest and largest value in the window ``[lo, hi)`` of sorted ``|d|``, and who flags.

    The robust median drops every copy of the largest value when ≥ 4 are usable, is the median of 3 and the
    minimum of 2 (stcal ``calc_med_first_diffs``).
    """
    n = hi - lo
    top = take_rows(srt, hi - 1)
    bot = take_rows(srt, lo)
    ties = np.count_nonzero(srt == top, axis=0)
    m = np.where(n >= 4, n - ties, np.where(n == 3, 3, np.where(n == 2, 1, 0)))
    med = (take_rows(srt, lo + (m - 1) // 2) + take_rows(srt, lo + m // 2)) * np.float32(0.5)
    med[m <= 0] = np.nan
    return _ratios(top, bot, med, n, rn2, th)


def _ratios(
    top: F32, bot: F32, med: F32, n: Index, rn2: F64, th: Thresholds
) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    sigma = _sigma(med, rn2)
    r_top = np.abs(top - med) / sigma
    r_bot = np.abs(bot - med) / sigma
    thr = np.select([n >= 4, n == 3, n == 2], [th.four_plus, th.three, th.two], default=np.inf)
    return r_top, r_bot, np.fmax(r_top, r_bot) > thr


def _iterative(diffs: F32, rn2: F64, th: Thresholds) -> Flags:
    """stcal's iterative clipping on ``|d|``; returns the flagged (difference, pixel) pairs."""
    absd = np.abs(diffs)
    srt, count = sort_nan_last(absd, batcher_pairs(absd.shape[0]) if absd.shape[0] <= 20 else None)
    # First pass over all pixels assumes the largest value is unique; ties are redone exactly below.
    top = take_rows(srt, count - 1)
    m = np.where(count >= 4, count - 1, np.where(count == 3, 3, np.where(count == 2, 1, 0)))
    med = median_of_first(srt, m)
    tied = np.flatnonzero((count >= 4) & (take_rows(srt, count - 2) == top))
    if tied.size:
        sub = srt[:, tied]
        med[tied] = median_of_first(sub, count[tied] - np.count_nonzero(sub == top[tied], axis=0))
    r_top, r_bot, flag = _ratios(top, srt[0], med, count, rn2, th)
    cand = np.flatnonzero(flag)
    if cand.size == 0:
        return _empty()
    sub = srt[:, cand]
    lo = np.zeros(cand.size, np.intp)
    hi = count[cand].astype(np.intp)
    _clip_until_clean(sub, lo, hi, rn2[cand], r_top[cand], r_bot[cand], th)
    has = hi > lo
    upper = np.where(has, take_rows(sub, hi - 1), -np.inf)
    lower = np.where(has, take_rows(sub, lo), np.inf)
    cand_abs = absd[:, cand]
    k, c = np.nonzero((cand_abs > upper) | (cand_abs < lower))
    return k, cand[c]


def _clip_until_clean(
    srt: F32, lo: Index, hi: Index, rn2: F64, r_top: F64, r_bot: F64, th: Thresholds
) -> None:
    """Shrink each window ``[lo, hi)`` (updated in place) while its worst value exceeds the threshold."""
    active = np.arange(srt.shape[1])
    for _ in range(srt.shape[0]):
        sub = srt[:, active]
        cut_top = r_top >= r_bot
        cut_bot = r_bot >= r_top
        top = take_rows(sub, hi[active] - 1)
        bot = take_rows(sub, lo[active])
        hi[active] -= np.where(cut_top, np.count_nonzero(sub == top, axis=0), 0)
        lo[active] += np.where(cut_bot, np.count_nonzero(sub == bot, axis=0), 0)
        r_top, r_bot, flag = _window_stats(sub, lo[active], hi[active], rn2[active], th)
        active, r_top, r_bot = active[flag], r_top[flag], r_bot[flag]
        if active.size == 0:
            return


def _sigma_clip(diffs: F32, nints: int, threshold: float) -> Flags:
    """Per difference and pixel, iterative clipping across integrations (astropy ``sigma_clip`` defaults).

    Columns are independent, so a column that clipped nothing in one pass has converged: each later pass
    only re-sorts the columns that changed (a few per cent), which is what makes ≥ 100 integrations cheap.
    """
    m = diffs.shape[1]
    cols = diffs.reshape(nints, -1)
    work = cols.copy()
    active = np.arange(work.shape[1])
    for _ in range(_CLIP_ITERS):
        sub = work[:, active]
        srt, count = sort_nan_last(sub)
        cen = median_of_first(srt, count).astype(np.float64)
        del srt
        finite = np.isfinite(sub)
        n = np.maximum(count, 1)
        mean = np.where(finite, sub, 0).sum(axis=0, dtype=np.float64) / n
        var = (np.where(finite, sub - mean, 0) ** 2).sum(axis=0, dtype=np.float64) / n
        half = threshold * np.sqrt(var)
        new = (sub < cen - half) | (sub > cen + half)
        changed = new.any(axis=0)
        if not changed.any():
            break
        sub[new] = np.nan
        work[:, active] = sub
        active = active[changed]
    kk, mm = np.nonzero(np.isfinite(cols) & ~np.isfinite(work))
    flat = kk * cols.shape[1] + mm
    return flat // m, flat % m


def _sources(
    diffs: F32,
    later_dq: npt.NDArray[np.uint8],
    primary: Flags,
    med: F32 | None,
    rn2: F64,
    th: Thresholds,
) -> Flags:
    """Flagged differences whose ratio (plain median, its σ) lies strictly between the neighbour bounds."""
    given = np.bitwise_or.reduce(later_dq, axis=(0, 1)) & _JUMP
    pix = np.union1d(np.flatnonzero(given), primary[1])
    if pix.size == 0:
        return _empty()
    jump_set = (later_dq[:, :, pix] & _JUMP).reshape(-1, pix.size) != 0
    jump_set[primary[0], np.searchsorted(pix, primary[1])] = True
    sub = diffs[:, pix]
    med_sub = _plain_median(sub) if med is None else med[pix]
    sigma = _sigma(med_sub, rn2[pix])
    excess = np.abs(sub - med_sub)
    src = jump_set & (excess > th.neighbor_min * sigma) & (excess < th.neighbor_max * sigma)
    k, c = np.nonzero(src)
    return k, pix[c]
