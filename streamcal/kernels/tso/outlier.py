"""Temporal outlier detection for a time series (jwst's outlier_detection in ``tso`` mode, jwst_spec §5.7).

Each pixel of each integration is compared with the median of the same pixel over a rolling window of
integrations (``window`` wide, centred, shifted inward at the ends of the series; the whole series when it
is shorter than the window): a pixel is an outlier when ``|sci − median| > snr · err``. A rolling window, as in
jwst, follows the transit itself, so a bright pixel dimming by the transit depth is not flagged. Pixels already
DO_NOT_USE or not finite take no part in the medians.

Simplified against jwst: the median is NaN-aware per pixel rather than resampled, and only the first of jwst's
two ``snr`` values is used (no neighbour-derivative term, as in jwst's TSO mode). Flagged pixels get
DO_NOT_USE | OUTLIER and NaN in SCI/ERR/VAR_* of the ``_crfints`` (the caller applies the mask).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["TemporalOutliers", "flag_temporal_outliers"]


def _median(block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The NaN-aware median over axis 0: numpy's fast median, and ``nanmedian`` (slow) only where a NaN is."""
    out = np.median(block, axis=0)
    lost = ~np.isfinite(out)
    if lost.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a pixel unusable in the whole window stays NaN
            out[lost] = np.nanmedian(block[:, lost], axis=0)
    return out


class TemporalOutliers(NamedTuple):
    """The result of :func:`flag_temporal_outliers`."""

    outliers: npt.NDArray[np.bool_]  # (nints, ny, nx): newly flagged pixels
    median: npt.NDArray[np.float32]  # (nints, ny, nx): the rolling median each pixel was compared with
    n_outliers: int


def flag_temporal_outliers(sci: npt.NDArray[np.float32], err: npt.NDArray[np.float32], dq: npt.NDArray[np.uint32],
                           *, snr: float = 5.0, window: int = 25) -> TemporalOutliers:
    """Flag pixels that stand out from their own rolling temporal median.

    Parameters
    ----------
    sci, err : ndarray, shape (nints, ny, nx), float32
    dq : ndarray, shape (nints, ny, nx), uint32
    snr : float
        Threshold in units of ``err`` (jwst's first ``snr``, 5).
    window : int
        Integrations in the rolling median (jwst's ``rolling_window_width``, 25; odd or even, centred).

    Returns
    -------
    TemporalOutliers

    Raises
    ------
    ValueError
        Not a cube, mismatched shapes, ``snr <= 0`` or ``window < 3``. Not retriable.
    """
    if sci.ndim != 3 or err.shape != sci.shape or dq.shape != sci.shape:
        raise ValueError(f"a time series needs sci, err and dq of one (nints, ny, nx) shape: {sci.shape}, "
                         f"{err.shape}, {dq.shape}")
    if not snr > 0 or window < 3:
        raise ValueError(f"snr must be > 0 and window >= 3 (snr {snr}, window {window})")
    usable = np.isfinite(sci) & ((dq & np.uint32(Pixel.DO_NOT_USE)) == 0)
    values = np.where(usable, sci, np.float32(np.nan)).astype(np.float32)
    nints = sci.shape[0]
    median = np.empty_like(values)
    width = min(window, nints)
    starts = [min(max(0, i - window // 2), nints - width) for i in range(nints)]
    for lo in sorted(set(starts)):  # nints − width + 1 distinct windows at most
        plane = _median(values[lo:lo + width])
        for i in (i for i, start in enumerate(starts) if start == lo):
            median[i] = plane
    with np.errstate(invalid="ignore"):
        outliers = usable & (np.abs(values - median) > np.float32(snr) * err) & np.isfinite(err) & (err > 0)
    return TemporalOutliers(outliers, median, int(np.count_nonzero(outliers)))
