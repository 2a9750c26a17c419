"""The exposure-time keywords of a product resampled from several exposures, as jwst's resample step sets them.

jwst (``jwst/resample/resample.py`` ``update_output_model`` over ``stcal.resample.Resample.update_time`` and
``finalize_time_info``) counts each *exposure* once — its ``group_id``: PROGRAM, OBSERVTN, VISIT, VISITGRP,
SEQ_ID, ACT_ID, EXPOSURE, so the detectors of one exposure count once — and writes:

========  ==================================  ===========================================================
keyword   datamodel attribute                 value
========  ==================================  ===========================================================
EFFEXPTM  meta.exposure.exposure_time         Σ EFFEXPTM
XPOSURE   meta.exposure.effective_exp…_time   Σ EFFEXPTM (the same sum)
EXPSTART  meta.exposure.start_time            min EXPSTART
EXPEND    meta.exposure.end_time              max EXPEND
DURATION  meta.exposure.duration              Σ DURATION
TELAPSE   meta.exposure.elapsed_exposure_t…   Σ DURATION
TMEASURE  meta.exposure.measurement_time      Σ TMEASURE when every exposure has one, else absent
========  ==================================  ===========================================================

EXPMID is not updated by jwst: the product keeps its first input's, as here (the product's primary header is
the first member's). XPOSURE and TELAPSE belong in the SCI header (``fits_hdu: SCI`` in stdatamodels' core
schema), the others in the primary header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

__all__ = ["GROUP_ID_KEYS", "TIME_KEYS", "ExposureTimes", "combined_exposure_times", "with_exposure_times"]

#: The keywords jwst's ``attrs_to_group_id`` joins into an exposure's ``group_id``.
GROUP_ID_KEYS = ("PROGRAM", "OBSERVTN", "VISIT", "VISITGRP", "SEQ_ID", "ACT_ID", "EXPOSURE")

#: Every keyword :func:`combined_exposure_times` may set (a caller drops the first member's copies of them).
TIME_KEYS = ("EFFEXPTM", "XPOSURE", "EXPSTART", "EXPEND", "DURATION", "TELAPSE", "TMEASURE")
#: The ones stdatamodels reads from the SCI header.
_SCI_KEYS = ("XPOSURE", "TELAPSE")


class ExposureTimes(NamedTuple):
    """The keywords of :func:`combined_exposure_times`, by the header they belong in."""

    primary: dict[str, object]
    sci: dict[str, object]


def _number(header: Mapping[str, object], key: str) -> float | None:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def combined_exposure_times(primaries: Sequence[Mapping[str, object]]) -> ExposureTimes:
    """The exposure-time keywords of a product made from ``primaries`` (the inputs' primary headers).

    Parameters
    ----------
    primaries : sequence of mapping
        One primary header per input image, in input order.

    Returns
    -------
    ExposureTimes
        EFFEXPTM, XPOSURE, DURATION, TELAPSE (sums, 0 when no input has them), EXPSTART/EXPEND when some input
        has them, TMEASURE only when every exposure has one (see the module docstring). Keys not returned must not
        be carried over from the first input.
    """
    seen: set[tuple[str, ...]] = set()
    exposure = duration = measured = 0.0
    all_measured = True
    starts: list[float] = []
    ends: list[float] = []
    for header in primaries:
        group_id = tuple(str(header.get(k, "")) for k in GROUP_ID_KEYS)
        if group_id in seen:
            continue
        seen.add(group_id)
        if (start := _number(header, "EXPSTART")) is not None:
            starts.append(start)
        if (end := _number(header, "EXPEND")) is not None:
            ends.append(end)
        exposure += _number(header, "EFFEXPTM") or 0.0
        duration += _number(header, "DURATION") or 0.0
        tmeasure = _number(header, "TMEASURE")
        all_measured = all_measured and tmeasure is not None
        measured += tmeasure if tmeasure is not None else _number(header, "EFFEXPTM") or 0.0
    out: dict[str, object] = {"EFFEXPTM": exposure, "XPOSURE": exposure, "DURATION": duration, "TELAPSE": duration}
    if starts:
        out["EXPSTART"] = min(starts)
    if ends:
        out["EXPEND"] = max(ends)
    if all_measured and seen:
        out["TMEASURE"] = measured
    return ExposureTimes({k: v for k, v in out.items() if k not in _SCI_KEYS},
                         {k: v for k, v in out.items() if k in _SCI_KEYS})


def with_exposure_times(primary: Mapping[str, object], times: ExposureTimes) -> dict[str, object]:
    """``primary`` (the first input's primary header) with its :data:`TIME_KEYS` replaced by ``times.primary``
    (:func:`combined_exposure_times`): a key left out is dropped, not carried over."""
    return {**{k: v for k, v in primary.items() if k not in TIME_KEYS}, **times.primary}
