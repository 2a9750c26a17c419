"""The exposure-time keywords of a resampled product (streamcal/models/exposure_times.py) against jwst's own
bookkeeping (stcal's Resample time counters; issue 14: the i2d carried one member's EFFEXPTM/EXPSTART/EXPEND
and no XPOSURE)."""

from __future__ import annotations

import pytest

from streamcal.models import exposure_times
from streamcal.models.exposure_times import TIME_KEYS, combined_exposure_times, with_exposure_times
from tests.streamcal.pipelines.resample_times import jwst_exposure_times

_ATTRS = {"EFFEXPTM": "exposure_time", "XPOSURE": "effective_exposure_time", "EXPSTART": "start_time",
          "EXPEND": "end_time", "DURATION": "duration", "TELAPSE": "elapsed_exposure_time",
          "TMEASURE": "measurement_time"}


def _header(exposure: int, detector: str, start: float, *, tmeasure: float | None = None) -> dict[str, object]:
    head: dict[str, object] = {"PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "VISITGRP": "02",
                               "SEQ_ID": "1", "ACT_ID": "01", "EXPOSURE": f"{exposure:05d}", "DETECTOR": detector,
                               "EFFEXPTM": 100.0 + exposure, "DURATION": 120.0 + exposure, "EXPSTART": start,
                               "EXPMID": start + 0.0007, "EXPEND": start + 0.0014}
    if tmeasure is not None:
        head["TMEASURE"] = tmeasure
    return head


def _as_jwst(head: dict[str, object]) -> dict[str, object]:
    group_id = f"jw{head['PROGRAM']}{head['OBSERVTN']}{head['VISIT']}_{head['VISITGRP']}{head['SEQ_ID']}" \
               f"{head['ACT_ID']}_{head['EXPOSURE']}"
    return {"group_id": group_id, "exposure_time": head["EFFEXPTM"], "start_time": head["EXPSTART"],
            "end_time": head["EXPEND"], "duration": head["DURATION"], "measurement_time": head.get("TMEASURE")}


@pytest.mark.parametrize("tmeasure", [None, 90.0, "some"])
def test_a_dither_with_two_detectors_per_exposure_matches_jwst(tmeasure):
    """Three exposures started at different times (out of order), each seen by two detectors: each exposure
    counts once; TMEASURE only when every exposure has one."""
    starts = {1: 60400.30, 2: 60400.25, 3: 60400.40}
    heads = [_header(e, d, starts[e], tmeasure=None if tmeasure is None or (tmeasure == "some" and e == 2)
                     else 90.0 + e) for e in (1, 2, 3) for d in ("NRCA1", "NRCA2")]
    times = combined_exposure_times(heads)
    assert set(times.sci) == {"XPOSURE", "TELAPSE"}  # stdatamodels reads them from the SCI header
    ours = {**times.primary, **times.sci}
    jwst = jwst_exposure_times([_as_jwst(h) for h in heads])
    for key, attr in _ATTRS.items():
        if jwst[attr] is None:
            assert key not in ours, key
        else:
            assert ours[key] == pytest.approx(jwst[attr]), key
    assert ours["EFFEXPTM"] == ours["XPOSURE"] == 306.0 and ours["DURATION"] == ours["TELAPSE"] == 366.0
    assert ours["EXPSTART"] == 60400.25 and ours["EXPEND"] == pytest.approx(60400.4014)


def test_the_first_members_copies_are_replaced_and_expmid_kept():
    first = {**_header(1, "NRCA1", 60400.3, tmeasure=50.0), "FILTER": "F200W"}
    merged = with_exposure_times(first, combined_exposure_times([first, _header(2, "NRCA1", 60400.2)]))
    assert "TMEASURE" not in merged and merged["FILTER"] == "F200W"
    assert merged["EXPSTART"] == 60400.2 and merged["EXPMID"] == first["EXPMID"]  # jwst leaves EXPMID alone
    assert set(TIME_KEYS) - {"TMEASURE", "XPOSURE", "TELAPSE"} <= set(merged)


def test_public_names():
    for name in exposure_times.__all__:
        assert hasattr(exposure_times, name)
