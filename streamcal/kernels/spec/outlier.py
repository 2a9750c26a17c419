"""outlier_detection for rectified spectra (jwst's ``spec`` mode, ``jwst_spec.md`` §5.7).

The members are already on one grid (:mod:`streamcal.kernels.spec.rectify`), so there is nothing to resample or
blot: the median of the members is taken pixel by pixel (NaN-aware; flagged pixels take no part) and each
member is tested against it with jwst's imaging test (:func:`streamcal.kernels.image.outlier.flag_cosmic_rays`:
``|sci − median − backg| > scale·deriv + snr·err`` for the first (snr, scale) pair grown by a 3×3 box AND the
second pair, ``deriv`` the median's largest difference to its 4 neighbours, which keeps a steep trace core from
being flagged when members are offset by a fraction of a pixel). ``err`` is the member's own error (jwst uses
the median's resampled error; with members of equal depth they agree). Fewer than ``min_members`` members (3
by default: with two the median cannot tell which one is wrong) flag nothing. Inputs are never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.image.outlier import OutlierParams, flag_cosmic_rays

__all__ = ["SpecOutliers", "flag_spectral_outliers"]

_DNU = np.uint32(Pixel.DO_NOT_USE)


class SpecOutliers(NamedTuple):
    """Per member, the outlier mask (True = outlier) and its count; the median the members were tested against."""

    masks: list[npt.NDArray[np.bool_]]
    n_flagged: list[int]
    median: npt.NDArray[np.float32]


def flag_spectral_outliers(sci: Sequence[npt.ArrayLike], err: Sequence[npt.ArrayLike],
                           dq: Sequence[npt.ArrayLike], *, snr: tuple[float, float] = (5.0, 4.0),
                           scale: tuple[float, float] = (1.2, 0.7), backg: float = 0.0,
                           min_members: int = 3) -> SpecOutliers:
    """Flag pixels of rectified members that deviate from the members' median (see the module docstring).

    Parameters
    ----------
    sci, err, dq : sequences of array-like, 2-D, one shape
        Each member's rectified image, total error and DQ.
    snr, scale : (float, float)
        jwst's two thresholds, in units of ERR and of the median's derivative.
    backg : float
        Background added to the median.
    min_members : int
        With fewer members nothing is flagged.

    Raises
    ------
    ValueError
        Members of different shapes. Not retriable.
    """
    stack = np.stack([np.asarray(s, dtype=np.float32) for s in sci])
    errs = np.stack([np.asarray(e, dtype=np.float32) for e in err])
    flags = np.stack([np.asarray(d, dtype=np.uint32) for d in dq])
    if not stack.shape == errs.shape == flags.shape:
        raise ValueError(f"sci {stack.shape}, err {errs.shape} and dq {flags.shape} stacks differ")
    n = stack.shape[0]
    usable = np.where((flags & _DNU) == 0, stack, np.float32(np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pixel no member has stays NaN
        median = np.nanmedian(usable, axis=0).astype(np.float32)
    if n < min_members:
        return SpecOutliers([np.zeros(stack.shape[1:], bool) for _ in range(n)], [0] * n, median)
    params = OutlierParams(snr=snr, scale=scale, backg=backg)
    masks = []
    for i in range(n):
        mask = flag_cosmic_rays(stack[i], errs[i], median, params=params) & np.isfinite(usable[i])
        masks.append(mask)
    return SpecOutliers(masks, [int(m.sum()) for m in masks], median)
