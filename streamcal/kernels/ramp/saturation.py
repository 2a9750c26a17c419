"""saturation: flag groups at or above the saturation threshold (jwst_spec.md §4.3; stcal ``saturation.py``).

1. A NaN threshold, or NO_SAT_CHECK in the reference DQ, means "never saturates" (threshold 65536) and adds
   NO_SAT_CHECK to PIXELDQ.
2. Forward in time: once a pixel reaches the threshold (>=) it stays SATURATED in every later group of that
   integration (sticky, as are SATURATED flags already present); SATURATED grows to a (2n+1)² box in the same
   group. Groups at or below 0 DN get AD_FLOOR|DO_NOT_USE (that group only, not grown).
3. Frame-averaged groups (NFRAMES > 1): walking back from the second-to-last group, a group that is not yet
   flagged, followed by a SATURATED group, and above threshold × dilution (dilution = mean/last frame of the
   group) is DO_NOT_USE (grown by the same box): the frames averaged into it were partly saturated.
4. With a bias and NGROUPS > 2, group 1 becomes DO_NOT_USE when group 2 saturated, group 1 did not, and the
   group-0 count rate extrapolated to group 2 stays below the threshold while the 0→1 jump is too big for it
   (a charge burst saturating within group 2's frames).
5. PIXELDQ |= reference DQ.

Growth crosses rows: a caller that works on row blocks passes ``n_grow`` halo rows on each side and keeps
the interior.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._common import as_dq, as_f32, grow_box

__all__ = ["NO_CHECK_THRESHOLD", "SaturationResult", "flag_saturation"]

#: A threshold no 16-bit value reaches.
NO_CHECK_THRESHOLD = 65536.0
_SAT = np.uint8(Pixel.SATURATED)
_DNU = np.uint8(Pixel.DO_NOT_USE)
_FLOOR = np.uint8(Pixel.AD_FLOOR | Pixel.DO_NOT_USE)


class SaturationResult(NamedTuple):
    groupdq: npt.NDArray[np.uint8]  # (nints, ngroups, ny, nx)
    pixeldq: npt.NDArray[np.uint32]  # (ny, nx)
    n_saturated: int  # pixels saturated in at least one group of one integration
    n_ad_floor: int


def _threshold(threshold: npt.ArrayLike, threshold_dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresh = as_f32(threshold, "threshold", 2)
    no_check = ~np.isfinite(thresh) | ((threshold_dq & Pixel.NO_SAT_CHECK) != 0)
    return np.where(no_check, np.float32(NO_CHECK_THRESHOLD), thresh), no_check


def _dilution(g: int, nframes: int) -> float:
    first, last = g * nframes + 1, g * nframes + nframes
    return ((first + last) / 2.0) / last


def flag_saturation(
    data: npt.ArrayLike,
    groupdq: npt.ArrayLike,
    pixeldq: npt.ArrayLike,
    *,
    threshold: npt.ArrayLike,
    threshold_dq: npt.ArrayLike,
    n_grow: int = 1,
    nframes: int = 1,
    bias: npt.ArrayLike | None = None,
) -> SaturationResult:
    """Flag saturated and A/D-floor groups.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
        Raw DN (bias included: saturation runs before superbias).
    groupdq : ndarray, shape (nints, ngroups, ny, nx), uint8
    pixeldq : ndarray, shape (ny, nx), uint32
    threshold : ndarray, shape (ny, nx), float32
        SATURATION reference SCI, DN.
    threshold_dq : ndarray, shape (ny, nx), uint32
        SATURATION reference DQ.
    n_grow : int
        Box half-size for growing SATURATED (jwst ``n_pix_grow_sat``).
    nframes : int
        NFRAMES; above 1 the frame-averaging back-pass (3) runs.
    bias : ndarray, shape (ny, nx), float32, optional
        Superbias; enables the group-2 check (4).

    Returns
    -------
    SaturationResult
        New DQ arrays and counts. Flags are only ever added.
    """
    sci = as_f32(data, "data", 4)
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8).copy()
    ref_dq = as_dq(threshold_dq, "threshold_dq", 2, np.uint32)
    thresh, no_check = _threshold(threshold, ref_dq)
    no_check_dq = no_check.astype(np.uint32) * np.uint32(Pixel.NO_SAT_CHECK)
    pdq = as_dq(pixeldq, "pixeldq", 2, np.uint32) | ref_dq | no_check_dq

    # A group already flagged SATURATED (e.g. by an earlier pass) stays saturated in later groups too.
    ever = np.logical_or.accumulate((sci >= thresh) | ((gdq & _SAT) != 0), axis=1)
    gdq |= grow_box(ever, n_grow).astype(np.uint8) * _SAT
    floor = sci <= 0
    gdq |= floor.astype(np.uint8) * _FLOOR
    ngroups = sci.shape[1]
    if nframes > 1:
        for g in range(ngroups - 2, -1, -1):
            dilution = _dilution(g, nframes)
            if dilution == 1.0:
                continue
            unflagged = (gdq[:, g] & (_SAT | _DNU)) == 0
            hit = (sci[:, g] >= thresh * np.float32(dilution)) & unflagged & ((gdq[:, g + 1] & _SAT) != 0)
            gdq[:, g] |= grow_box(hit, n_grow).astype(np.uint8) * _DNU
    if bias is not None and ngroups > 2:
        b = np.nan_to_num(as_f32(bias, "bias", 2), nan=0.0)
        mean0, last2, len1 = (1 + nframes) / 2.0, 3.0 * nframes, float(nframes)
        extrapolated = (sci[:, 0] - b) / np.float32(mean0) * np.float32(last2) + b
        burst = (sci[:, 1] - sci[:, 0]) > (thresh - sci[:, 0]) / np.float32(len1)
        sat2 = (gdq[:, 2] & _SAT) != 0
        sat1 = (gdq[:, 1] & _SAT) != 0
        gdq[:, 1] |= ((extrapolated < thresh) & burst & sat2 & ~sat1).astype(np.uint8) * _DNU
    n_sat = int(np.any((gdq & _SAT) != 0, axis=(0, 1)).sum())
    return SaturationResult(gdq, pdq, n_sat, int(np.any(floor, axis=(0, 1)).sum()))
