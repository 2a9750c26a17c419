"""dq_init: merge the MASK reference into the pixel DQ (jwst_spec.md §4.2).

PIXELDQ |= MASK.DQ; pixels that are DO_NOT_USE in the mask are DO_NOT_USE in every group. Source: jwst
``dq_init`` step docs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._common import as_dq

__all__ = ["DQInitResult", "initialize_dq"]


class DQInitResult(NamedTuple):
    pixeldq: npt.NDArray[np.uint32]  # (ny, nx)
    groupdq: npt.NDArray[np.uint8]  # (nints, ngroups, ny, nx)
    n_do_not_use: int


def initialize_dq(pixeldq: npt.ArrayLike, groupdq: npt.ArrayLike, *, mask: npt.ArrayLike) -> DQInitResult:
    """OR the mask into PIXELDQ and mark its DO_NOT_USE pixels in every group.

    Parameters
    ----------
    pixeldq : ndarray, shape (ny, nx), uint32
    groupdq : ndarray, shape (nints, ngroups, ny, nx), uint8
    mask : ndarray, shape (ny, nx), uint32
        The MASK reference's DQ, already cut to the subarray.

    Returns
    -------
    DQInitResult
        New arrays, and how many pixels the mask marks DO_NOT_USE.
    """
    pdq = as_dq(pixeldq, "pixeldq", 2, np.uint32)
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8)
    ref = as_dq(mask, "mask", 2, np.uint32)
    if ref.shape != pdq.shape:
        raise ValueError(f"mask shape {ref.shape} does not match the data {pdq.shape}")
    dnu = (ref & Pixel.DO_NOT_USE) != 0
    new_gdq = gdq | (dnu.astype(np.uint8) * np.uint8(Pixel.DO_NOT_USE))
    return DQInitResult(pdq | ref, new_gdq, int(dnu.sum()))
