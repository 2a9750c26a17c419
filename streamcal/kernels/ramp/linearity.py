"""linearity: correct the detector's non-linear response (jwst_spec.md §4.6; stcal ``linearity.py``).

Corrected = Σ_k c_k F^k (Horner), F the DN after bias subtraction (no bias for MIRI), for every group that
is not SATURATED. Pixels whose coefficients contain NaN, or whose linear term is 0, get the identity
(0, 1, 0, ...) and NO_LIN_CORR; reference NO_LIN_CORR pixels are left uncorrected. PIXELDQ |= reference DQ.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._common import as_dq, as_f32

__all__ = ["LinearityResult", "correct_linearity"]


class LinearityResult(NamedTuple):
    data: npt.NDArray[np.float32]  # (nints, ngroups, ny, nx)
    pixeldq: npt.NDArray[np.uint32]  # (ny, nx)
    n_no_correction: int


def correct_linearity(
    data: npt.ArrayLike,
    groupdq: npt.ArrayLike,
    pixeldq: npt.ArrayLike,
    *,
    coeffs: npt.ArrayLike,
    lin_dq: npt.ArrayLike | None = None,
) -> LinearityResult:
    """Apply the linearity polynomial.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
    groupdq : ndarray, shape (nints, ngroups, ny, nx), uint8
        SATURATED groups are not corrected.
    pixeldq : ndarray, shape (ny, nx), uint32
    coeffs : ndarray, shape (ncoeffs, ny, nx), float32
        LINEARITY reference COEFFS, lowest order first.
    lin_dq : ndarray, shape (ny, nx), uint32, optional

    Returns
    -------
    LinearityResult
        New arrays and how many pixels got no correction.
    """
    sci = as_f32(data, "data", 4)
    gdq = as_dq(groupdq, "groupdq", 4, np.uint8)
    c = as_f32(coeffs, "coeffs", 3)
    pdq = as_dq(pixeldq, "pixeldq", 2, np.uint32)
    ref_dq = np.zeros_like(pdq) if lin_dq is None else as_dq(lin_dq, "lin_dq", 2, np.uint32)
    bad = np.any(~np.isfinite(c), axis=0) | (c[1] == 0) if c.shape[0] > 1 else np.ones(pdq.shape, bool)
    skip = bad | ((ref_dq & Pixel.NO_LIN_CORR) != 0)
    identity = np.zeros_like(c)
    if c.shape[0] > 1:
        identity[1] = 1.0
    c = np.where(skip, identity, c)
    out = np.full_like(sci, c[-1])
    for k in range(c.shape[0] - 2, -1, -1):
        out *= sci
        out += c[k]
    saturated = (gdq & Pixel.SATURATED) != 0
    out = np.where(saturated, sci, out)
    pdq = pdq | ref_dq | (bad.astype(np.uint32) * np.uint32(Pixel.NO_LIN_CORR))
    return LinearityResult(out, pdq, int(skip.sum()))
