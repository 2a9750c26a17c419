"""Jump (cosmic-ray) detection by the two-point difference method.

The algorithm is that of stcal 1.20 with JWST defaults (``stcal/jump/twopoint_difference.py``, ``find_crs``;
``../shared/research/jwst_spec.md`` §4.9), re-vectorised:

1. Work in electrons: ``e = data · gain``; groups flagged SATURATED or DO_NOT_USE are missing (NaN). First
   differences ``d`` along the group axis pool all integrations: ``K = nints · (ngroups − 1)`` values per pixel.
   Every difference assumes one group of time and ``2·NFRAMES`` reads, so the read-noise variance of a difference is
   ``(RN_cds · gain)² / NFRAMES`` (the READNOISE reference is CDS noise in DN).
2. ``σ = sqrt(|median| + RN²/NFRAMES)``; ``σ = 0`` never flags. The path depends on the usable groups, counted as
   in stcal: groups whose every pixel is DO_NOT_USE are not usable, and the minimum over integrations counts.

   - NGROUPS < 3, or fewer than 3 usable groups and NINTS < 100: nothing is flagged;
   - NINTS ≥ 100: per difference and pixel, sigma clipping across integrations (astropy defaults: median
     centre, population std, 5 iterations) with ``rejection_threshold``;
   - ≥ 10 usable differences: one pass, flag ``|d − med|/σ > rejection_threshold`` with ``med`` the median of ``d``;
   - otherwise iteratively on ``|d|``: the robust median drops the largest value(s) when ≥ 4 are usable, is the
     plain median of 3 and the minimum of 2. The value with the largest ``||d| − med|/σ`` is flagged while that
     ratio exceeds the threshold for the number ``n`` of still-usable differences (``rejection_threshold`` for
     ``n ≥ 4``, ``four_group_threshold`` for 3, ``three_group_threshold`` for 2), and the statistics are recomputed.
     The removed value is always the smallest or largest still in use, so the surviving values are a window of
     the sorted differences and each iteration is a few gathers on the few pixels that still flag.
3. A flag on difference ``k`` sets JUMP_DET on group ``k + 1``.
4. Neighbours: where a group carries JUMP_DET (new or given) and its ratio, computed with the plain median of
   ``d`` and its σ, lies strictly between ``min_jump_to_flag_neighbors`` and ``max_jump_to_flag_neighbors``,
   the four edge neighbours in the same group get JUMP_DET unless they are SATURATED or DO_NOT_USE.

Every step except the path choice is per pixel, and neighbour flags are written after all primary flags, so a
caller may run the kernel on rows ``y0−1 … y1+1`` of a frame and keep rows ``y0 … y1``: their flags equal those of
a whole-frame run (a row slice of a frame is used without copying). Medians come from pruned sorting networks
(``_order``), not ``np.nanmedian``; pixels with unusable groups or NaN data, and the few that exceed a threshold,
are redone exactly on a gathered subset (``_jump_stats``). Data are processed in row blocks of about 4 MiB, so the
extra memory is the output GROUPDQ plus a few blocks.

Differences from stcal: flags are only ever added (stcal also clears JUMP_DET that arrives together with SATURATED or
DO_NOT_USE); NGROUPS < 3 is always skipped (stcal sigma-clips it when NINTS ≥ 100; jwst's step skips it); the
sigma-clip path does not reset lone JUMP_DET flags in groups where every pixel is flagged; the path choice looks
only at the rows given; snowball/shower and after-jump flagging are not implemented (off by default in stcal).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp import _jump_stats as stats
from streamcal.kernels.ramp._jump_stats import Thresholds

__all__ = ["JumpResult", "detect_jumps"]

_JUMP = np.uint8(Pixel.JUMP_DET)
_SAT_DNU = np.uint8(Pixel.SATURATED | Pixel.DO_NOT_USE)
_BLOCK_ELEMENTS = 1 << 20
_SIGCLIP_MIN_INTS = 100
_SINGLE_PASS_MIN_DIFFS = 10
_MIN_GROUPS = 3


class JumpResult(NamedTuple):
    """Output of :func:`detect_jumps`."""

    groupdq: npt.NDArray[np.uint8]  #: (nints, ngroups, ny, nx), a new array
    n_jumps: int  #: groups newly flagged by the two-point test
    n_neighbors: int  #: groups newly flagged only as neighbours of a jump
    n_bad_gain: int  #: pixels whose gain is ≤ 0 or NaN (they never flag)
    path: str  #: "skipped", "iterative", "single_pass" or "sigma_clip"


def detect_jumps(
    data: npt.ArrayLike,
    groupdq: npt.ArrayLike,
    *,
    gain: npt.ArrayLike,
    readnoise: npt.ArrayLike,
    nframes: int = 1,
    rejection_threshold: float = 4.0,
    three_group_threshold: float = 6.0,
    four_group_threshold: float = 5.0,
    flag_4_neighbors: bool = True,
    max_jump_to_flag_neighbors: float = 1000.0,
    min_jump_to_flag_neighbors: float = 10.0,
) -> JumpResult:
    """Flag cosmic-ray jumps in ramps with the two-point difference method.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
        Ramps in DN (bias-subtracted, linearised).
    groupdq : ndarray, shape (nints, ngroups, ny, nx), uint8
        Group DQ; SATURATED or DO_NOT_USE groups are not used.
    gain : ndarray, shape (ny, nx), float32
        Gain in e/DN.
    readnoise : ndarray, shape (ny, nx), float32
        CDS read noise in DN (as in the READNOISE reference file).
    nframes : int
        Frames averaged per group.
    rejection_threshold, three_group_threshold, four_group_threshold : float
        Thresholds in σ for ≥ 4, 2 and 3 usable differences (the names count groups, as stcal's do).
    flag_4_neighbors : bool
        Also flag the four neighbours of jumps whose ratio lies between the two bounds below.
    max_jump_to_flag_neighbors, min_jump_to_flag_neighbors : float
        Ratio bounds (exclusive) for neighbour flagging.

    Returns
    -------
    JumpResult
        A new GROUPDQ with JUMP_DET added, and counts. The inputs are never modified.

    Raises
    ------
    ValueError
        If shapes disagree or ``nframes < 1`` (not retriable).
    """
    values, gdq, gain32, rn32 = _validate(data, groupdq, gain, readnoise, nframes)
    out = gdq.copy()
    n_bad_gain = int(np.count_nonzero(~(gain32 > 0)))
    path = _choose_path(gdq)
    if path == "skipped":
        return JumpResult(out, 0, 0, n_bad_gain, path)
    thresholds = Thresholds(
        rejection_threshold, four_group_threshold, three_group_threshold,
        min_jump_to_flag_neighbors, max_jump_to_flag_neighbors, flag_4_neighbors,
    )
    nints, ngroups, ny, nx = values.shape
    plan = stats.make_plan(path, thresholds, nints * (ngroups - 1))
    rows = max(1, _BLOCK_ELEMENTS // (nints * ngroups * nx))
    n_jumps = 0
    sources = []
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        block_dq = gdq[:, :, r0:r1].reshape(nints, ngroups, -1)
        diffs, dirty = stats.block_differences(
            values[:, :, r0:r1].reshape(nints, ngroups, -1), block_dq, gain32[r0:r1].reshape(-1))
        rn2 = (rn32[r0:r1] * gain32[r0:r1]) ** 2
        rn2_per_diff = rn2.reshape(-1).astype(np.float64) / nframes
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN marks unusable data
            found = stats.find_block(diffs, dirty, block_dq[:, 1:], rn2_per_diff, plan)
        n_jumps += _apply_primary(out, gdq, found.primary, r0, nx)
        sources.append(_to_coords(found.sources, ngroups, nx, r0))
    n_neighbors = _flag_neighbors(out, gdq, np.concatenate(sources, axis=1)) if flag_4_neighbors else 0
    return JumpResult(out, n_jumps, n_neighbors, n_bad_gain, path)


def _validate(
    data: npt.ArrayLike, groupdq: npt.ArrayLike, gain: npt.ArrayLike, readnoise: npt.ArrayLike, nframes: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    values = np.asarray(data, dtype=np.float32)
    gdq = np.asarray(groupdq).astype(np.uint8, copy=False)
    gain32 = np.asarray(gain, dtype=np.float32)
    rn32 = np.asarray(readnoise, dtype=np.float32)
    if values.ndim != 4 or gdq.shape != values.shape:
        raise ValueError(f"data {values.shape} and groupdq {gdq.shape} must be equal 4-D shapes")
    if gain32.shape != values.shape[2:] or rn32.shape != values.shape[2:]:
        raise ValueError(f"gain {gain32.shape} and readnoise {rn32.shape} must have shape {values.shape[2:]}")
    if nframes < 1:
        raise ValueError(f"nframes must be >= 1, got {nframes}")
    return values, gdq, gain32, rn32


def _choose_path(gdq: npt.NDArray[np.uint8]) -> str:
    """stcal's path choice: usable groups discount groups in which every pixel is DO_NOT_USE."""
    nints, ngroups = gdq.shape[:2]
    if ngroups < _MIN_GROUPS:
        return "skipped"
    dnu = np.uint8(Pixel.DO_NOT_USE)
    most_flagged = 0
    for i in range(nints):
        # Checking one pixel first keeps this O(1) for ordinary data.
        flagged = sum(bool(gdq[i, g, 0, 0] & dnu) and bool(np.all(gdq[i, g] & dnu)) for g in range(ngroups))
        most_flagged = max(most_flagged, flagged)
    min_usable = ngroups - most_flagged
    if nints >= _SIGCLIP_MIN_INTS:
        return "sigma_clip"
    if min_usable < _MIN_GROUPS:
        return "skipped"
    return "single_pass" if min_usable - 1 >= _SINGLE_PASS_MIN_DIFFS else "iterative"


def _to_coords(
    flags: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]], ngroups: int, nx: int, r0: int
) -> npt.NDArray[np.intp]:
    """(difference index, pixel index in block) → rows (integration, group, y, x) of a (4, n) array."""
    k, pix = flags
    i, kd = np.divmod(k, ngroups - 1)
    y, x = np.divmod(pix, nx)
    return np.stack([i, kd + 1, y + r0, x]).astype(np.intp, copy=False)


def _apply_primary(
    out: npt.NDArray[np.uint8],
    gdq: npt.NDArray[np.uint8],
    flags: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    r0: int,
    nx: int,
) -> int:
    """Set JUMP_DET at the flagged groups; return how many were not flagged before."""
    i, g, y, x = _to_coords(flags, out.shape[1], nx, r0)
    was = gdq[i, g, y, x]
    out[i, g, y, x] = was | _JUMP
    return int(np.count_nonzero((was & _JUMP) == 0))


def _flag_neighbors(out: npt.NDArray[np.uint8], gdq: npt.NDArray[np.uint8], src: npt.NDArray[np.intp]) -> int:
    """Flag the 4 neighbours of each source (integration, group, y, x); return the number of new flags."""
    ny, nx = out.shape[2:]
    i, g, y, x = src
    cand = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        yy, xx = y + dy, x + dx
        inside = (yy >= 0) & (yy < ny) & (xx >= 0) & (xx < nx)
        cand.append(np.ravel_multi_index((i[inside], g[inside], yy[inside], xx[inside]), out.shape))
    idx = np.unravel_index(np.unique(np.concatenate(cand)), out.shape)
    usable = (gdq[idx] & _SAT_DNU) == 0
    idx = tuple(a[usable] for a in idx)
    before = out[idx]
    out[idx] = before | _JUMP
    return int(np.count_nonzero((before & _JUMP) == 0))
