"""MIRI first/last-frame and reset-anomaly group flagging, simplified (jwst_spec.md §4.13).

- lastframe: DO_NOT_USE on the last group when NGROUPS > 2;
- firstframe (deprecated in jwst, off by default): DO_NOT_USE on the first group when NGROUPS > 3;
- rscd (simplified): DO_NOT_USE on the first ``int1_skip`` groups of the first integration and the first
  ``int2_skip`` groups of later ones, leaving at least 3 usable groups (the counts are [U] in the spec;
  the defaults here are conservative).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._common import as_dq

__all__ = ["MiriFlagResult", "flag_first_frame", "flag_last_frame", "flag_rscd"]

_DNU = np.uint8(Pixel.DO_NOT_USE)


class MiriFlagResult(NamedTuple):
    groupdq: npt.NDArray[np.uint8]  # (nints, ngroups, ny, nx)
    applied: bool


def flag_last_frame(groupdq: npt.ArrayLike) -> MiriFlagResult:
    """DO_NOT_USE on the last group when there are more than 2 groups."""
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8)
    if gdq.shape[1] <= 2:
        return MiriFlagResult(gdq, False)
    out = gdq.copy()
    out[:, -1] |= _DNU
    return MiriFlagResult(out, True)


def flag_first_frame(groupdq: npt.ArrayLike) -> MiriFlagResult:
    """DO_NOT_USE on the first group when there are more than 3 groups."""
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8)
    if gdq.shape[1] <= 3:
        return MiriFlagResult(gdq, False)
    out = gdq.copy()
    out[:, 0] |= _DNU
    return MiriFlagResult(out, True)


def flag_rscd(groupdq: npt.ArrayLike, *, int1_skip: int = 0, int2_skip: int = 1) -> MiriFlagResult:
    """DO_NOT_USE on the first groups of each integration affected by the reset anomaly."""
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8)
    ngroups = gdq.shape[1]
    out = gdq.copy()
    applied = False
    for i in range(gdq.shape[0]):
        skip = int1_skip if i == 0 else int2_skip
        skip = min(skip, max(ngroups - 3, 0))
        if skip > 0:
            out[i, :skip] |= _DNU
            applied = True
    return MiriFlagResult(out, applied)
