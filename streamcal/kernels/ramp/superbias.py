"""superbias: subtract the bias level of every pixel (jwst_spec.md §4.4; NIR only).

SCI[i, g] -= bias for every integration and group; NaN in the bias counts as 0; PIXELDQ |= bias DQ.
Source: jwst ``superbias`` step docs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._common import as_dq, as_f32

__all__ = ["SuperbiasResult", "subtract_superbias"]


class SuperbiasResult(NamedTuple):
    data: npt.NDArray[np.float32]  # (nints, ngroups, ny, nx)
    pixeldq: npt.NDArray[np.uint32]  # (ny, nx)


def subtract_superbias(
    data: npt.ArrayLike, pixeldq: npt.ArrayLike, *, bias: npt.ArrayLike, bias_dq: npt.ArrayLike | None = None
) -> SuperbiasResult:
    """Subtract the superbias.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
    pixeldq : ndarray, shape (ny, nx), uint32
    bias : ndarray, shape (ny, nx), float32
    bias_dq : ndarray, shape (ny, nx), uint32, optional

    Returns
    -------
    SuperbiasResult
        New arrays.
    """
    sci = as_f32(data, "data", 4)
    level = np.nan_to_num(as_f32(bias, "bias", 2), nan=0.0)
    pdq = as_dq(pixeldq, "pixeldq", 2, np.uint32)
    if bias_dq is not None:
        pdq = pdq | as_dq(bias_dq, "bias_dq", 2, np.uint32)
    return SuperbiasResult(sci - level, pdq)
