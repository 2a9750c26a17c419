"""group_scale: undo the on-board frame averaging by a power of two (jwst_spec.md §4.1).

When FRMDIVSR differs from NFRAMES, the on-board sum of NFRAMES frames was divided by FRMDIVSR (the next power
of two), so SCI is multiplied by FRMDIVSR / NFRAMES. Source: jwst ``group_scale`` step docs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._common import as_f32

__all__ = ["GroupScaleResult", "scale_groups"]


class GroupScaleResult(NamedTuple):
    data: npt.NDArray[np.float32]  # (nints, ngroups, ny, nx)
    factor: float
    applied: bool


def scale_groups(data: npt.ArrayLike, *, frmdivsr: int | None, nframes: int) -> GroupScaleResult:
    """Rescale groups averaged with a power-of-two divisor.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
    frmdivsr : int or None
        FRMDIVSR; None (keyword absent) or equal to ``nframes`` means nothing to do.
    nframes : int
        NFRAMES.

    Returns
    -------
    GroupScaleResult
        ``data`` is a new array when ``applied``, else the (float32) input itself.
    """
    sci = as_f32(data, "data", 4)
    if frmdivsr is None or frmdivsr == nframes or nframes <= 0:
        return GroupScaleResult(sci, 1.0, False)
    factor = float(frmdivsr) / float(nframes)
    return GroupScaleResult(sci * np.float32(factor), factor, True)
