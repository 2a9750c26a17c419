"""Per-integration group-DQ summary and the per-pixel median rate for :mod:`streamcal.kernels.ramp.ramp_fit`.

Both follow stcal 1.20 ``slope_fitter.c`` (``get_pixel_ramp_integration``, ``compute_integration_segments``,
``median_rate_default``); arrays here are ``(ngroups, M)``, one column per ramp: the ``M`` columns may be pixels
of one integration or (integration, pixel) pairs of many, as every step works column by column.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._order import median_of_first, sort_nan_last

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
Bool = npt.NDArray[np.bool_]

_PERS = np.uint8(Pixel.PERSISTENCE)
_NOT_PERS = np.uint8(~np.uint8(Pixel.PERSISTENCE))
_SAT = np.uint8(Pixel.SATURATED)
_DNU = np.uint8(Pixel.DO_NOT_USE)
_JUMP = np.uint8(Pixel.JUMP_DET)


class IntegrationDQ(NamedTuple):
    """What the fit needs to know about one integration's group flags, per pixel."""

    lead: npt.NDArray[np.intp]  #: length of the leading run of good groups (PERSISTENCE ignored)
    simple: Bool  #: no good group after that run: one segment ``[0, lead)`` (or none)
    sat0: Bool  #: group 0 SATURATED: no valid slope in this integration
    all_sat: Bool  #: every group SATURATED
    unusable: Bool  #: every group DO_NOT_USE or SATURATED (or the ramp was suppressed)
    any_sat: Bool  #: some group SATURATED
    suppressed: Bool  #: one-good-group ramp turned into DO_NOT_USE (``suppress_one_group``)
    only_group0: Bool  #: only group 0 has DQ == 0 (stcal's "0th group" special case; off when suppressing)
    flags: U8  #: OR of all group flags (for JUMP_DET and PERSISTENCE in the output DQ)


def summarize(raw: U8, *, suppress_one_group: bool) -> IntegrationDQ:
    """Summarise ``raw`` GROUPDQ of one integration, shape ``(ngroups, M)``, uint8."""
    ngroups = raw.shape[0]
    good = (raw & _NOT_PERS) == 0
    n_good = np.count_nonzero(good, axis=0)
    suppressed = (n_good == 1) if (suppress_one_group and ngroups > 1) else np.zeros(raw.shape[1], bool)
    if suppressed.any():
        good &= ~suppressed
        n_good = np.where(suppressed, 0, n_good)
    running = good[0].copy()
    lead = running.astype(np.intp)
    for row in good[1:]:  # row by row: a bool accumulate along axis 0 is several times slower
        running &= row
        lead += running
    sat = (raw & _SAT) != 0
    n_sat = np.count_nonzero(sat, axis=0)
    unusable = (np.count_nonzero(raw & (_SAT | _DNU), axis=0) == ngroups) | suppressed
    if suppress_one_group:
        only_group0 = np.zeros(raw.shape[1], bool)
    else:
        only_group0 = (raw[0] == 0) & (np.count_nonzero(raw == 0, axis=0) == 1)
    return IntegrationDQ(
        lead=lead, simple=lead == n_good, sat0=sat[0], all_sat=n_sat == ngroups, unusable=unusable,
        any_sat=n_sat > 0, suppressed=suppressed, only_group0=only_group0,
        flags=np.bitwise_or.reduce(raw, axis=0),
    )


def median_rate(
    values: F32, raw: U8, idq: IntegrationDQ, *, group_time: float, one_group_time: float,
    pairs: list[tuple[int, int]] | None,
) -> F64:
    """stcal's median rate of one integration (DN/s), shape ``(M,)``; 0 where undefined.

    The median of the first differences divided by the group time, where a difference is missing if either group
    is DO_NOT_USE/SATURATED or the later group has JUMP_DET. With no difference left, the group-0 value over the
    group time; in the "only group 0 is good" case, group 0 over ``(NFRAMES + 1)·TFRAME/2``.
    """
    missing = (raw & (_SAT | _DNU)) != 0
    missing |= idq.suppressed
    usable = np.where(missing, np.float32(np.nan), values)
    scaled = usable * np.float32(1.0 / group_time)
    diffs = scaled[1:] - scaled[:-1]
    np.copyto(diffs, np.float32(np.nan), where=(raw[1:] & _JUMP) != 0)
    srt, count = sort_nan_last(diffs, pairs)
    med = median_of_first(srt, count).astype(np.float64)
    none = count == 0
    med[none] = scaled[0][none]
    if idq.only_group0.any():
        med[idq.only_group0] = values[0][idq.only_group0] / one_group_time
    med[np.isnan(med)] = 0.0
    return med
