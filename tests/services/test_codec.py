"""Events and their one codec (services/events.py, services/codec.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest

from services.codec import decode, decode_as, encode
from services.events import (
    SCHEMA_VERSION,
    AssociationDeclared,
    AssociationReady,
    DeadLetter,
    ExposureArrived,
    MemberDone,
    ProductsWritten,
    WorkItem,
    alias_of,
    all_topics,
    is_pending,
    pending_topic,
    topic_for,
    utcnow,
    work_topic,
)
from streamcal.errors import MalformedEventError
from streamcal.routing import load_routing_table, route

ROUTE = {"exp_type": "NRC_IMAGE", "tsovisit": False, "is_tso": False, "is_wfsc": False,
         "stage1": "calwebb_detector1", "stage2": "calwebb_image2", "stage3": "calwebb_image3",
         "stage2_input": "rate", "asn_type": "image3", "stage2_asn_type": "image2"}
SPEC = {"route": ROUTE, "stages": [{"pipeline": "calwebb_detector1", "pars": "pars-detector1pipeline.yaml",
                                    "parameters": {}, "steps": [{"name": "jump", "skip": False,
                                                                 "parameters": {"rejection_threshold": 4.0}}]}]}

EVENTS = [
    ExposureArrived(path=Path("/in/a_uncal.fits"), size=2880, mtime_ns=1, exposure_id="a", landed_at=utcnow()),
    WorkItem(pipeline="calwebb_detector1", input_path=Path("/in/a_uncal.fits"), raw_path=Path("/in/a_uncal.fits"),
             spec=SPEC, exposure_id="a", association_id="image3:jw01234:o001", landed_at=utcnow()),
    MemberDone(association_id="k", exposure_id="a", product_path=Path("/p/a_cal.fits"), spec=SPEC),
    AssociationDeclared(association_id="asn:x", asn_path=Path("/in/x_asn.json")),
    AssociationReady(association_id="k", asn_path=Path("/p/x_asn.json"), pipeline="calwebb_image3",
                     members=("a_cal.fits",), partial=True),
    ProductsWritten(pipeline="calwebb_detector1", exposure_id="a", input_path=Path("/in/a_uncal.fits"),
                    products=(Path("/p/a_rate.fits"), Path("/p/a_rateints.fits")), seconds=0.5),
    DeadLetter(reason="corrupt_file", error="CorruptFileError: x", service="router",
               source_topic="streamcal.exposure.arrived", key="a", original="e30="),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_and_is_frozen_slotted_keyword_only(event):
    """1. encode → decode gives the same event; events are frozen, slotted, keyword-only, versioned."""
    assert decode(encode(event)) == event
    assert event.schema_version == SCHEMA_VERSION and event.created.utcoffset() is not None
    assert not hasattr(event, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.event_id = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        type(event)("positional")  # type: ignore[call-arg]


def test_reading_is_tolerant_of_new_fields_but_not_of_another_schema_version():
    """2. Unknown fields are ignored; a foreign schema_version is malformed; so are non-events."""
    doc = json.loads(encode(EVENTS[0]))
    doc["added_by_a_newer_producer"] = {"x": 1}
    assert decode(json.dumps(doc).encode()) == EVENTS[0]
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(MalformedEventError, match=f"schema_version {SCHEMA_VERSION + 1}"):
        decode(json.dumps(doc).encode())
    for raw, match in [(b"\xff\xfe", "not JSON"), (b"[1, 2]", "JSON list"), (b'{"schema_version": 2}', "invalid"),
                       (b'{"type": "work", "schema_version": 2, "pipeline": 3}', "invalid 'work' event")]:
        with pytest.raises(MalformedEventError, match=match):
            decode(raw)


def test_naive_timestamps_and_wrong_kinds_are_rejected():
    """3. Timestamps must be aware; decode_as checks the kind a topic carries; the error is a dead letter reason."""
    with pytest.raises(ValueError, match="no time zone"):
        ExposureArrived(path=Path("/x"), size=1, mtime_ns=1, exposure_id="x", landed_at=datetime(2024, 1, 1))
    with pytest.raises(MalformedEventError, match="unexpected WorkItem") as info:
        decode_as(encode(EVENTS[1]), ExposureArrived)
    assert info.value.reason == "malformed_event" and not info.value.retriable


def test_topic_names():
    """4. One work topic per alias; alias_of inverts it; all_topics lists the fixed topics too."""
    assert work_topic("calwebb_detector1") == "streamcal.work.calwebb_detector1"
    assert alias_of("streamcal.work.calwebb_spec2") == "calwebb_spec2" and alias_of("streamcal.products") is None
    topics = all_topics(["calwebb_dark", "calwebb_dark"])
    assert "streamcal.deadletter" in topics and topics.count("streamcal.work.calwebb_dark") == 1
    assert pending_topic("calwebb_spec2") in topics and is_pending(pending_topic("calwebb_spec2"))
    assert alias_of(pending_topic("calwebb_spec2")) == "calwebb_spec2" and not is_pending(work_topic("x"))


@pytest.mark.parametrize(("header", "topic"), [
    ({"EXP_TYPE": "NRS_FIXEDSLIT"}, "streamcal.work.calwebb_spec2"),
    ({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": False}, "streamcal.work.calwebb_spec2"),
    ({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": True}, "streamcal.work.calwebb_spec2"),  # a time series: rateints
    ({"EXP_TYPE": "NRS_BRIGHTOBJ"}, "streamcal.work.calwebb_spec2"),  # always a time series
    ({"EXP_TYPE": "MIR_MRS"}, "streamcal.work.calwebb_spec2"),  # IFU: cube_build → _s3d
    ({"EXP_TYPE": "NRS_MSASPEC"}, "streamcal.work.calwebb_spec2"),  # MOS: MultiSlitModel _cal/_s2d
    ({"EXP_TYPE": "NIS_WFSS"}, "streamcal.work.calwebb_spec2"),  # from a level-2 ASN the tracker writes
    ({"EXP_TYPE": "NRC_WFSS"}, "streamcal.work.calwebb_spec2"),
    ({"EXP_TYPE": "NRC_IMAGE"}, "streamcal.work.calwebb_image2"),
])
def test_stage2_work_goes_to_the_work_topic_of_a_pipeline_that_takes_it(header: dict, topic: str) -> None:
    found = route({"INSTRUME": "X", **header}, load_routing_table())
    assert found.stage2 is not None
    assert topic_for(found.stage2, found) == topic


def test_work_a_pipeline_does_not_take_yet_goes_to_its_pending_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work for a pipeline that takes only some EXP_TYPEs (``streamcal.pipelines.PARTIAL``) of a mode it does
    not take yet waits in a topic no worker consumes (the summary says why), instead of failing in a worker."""
    monkeypatch.setattr("streamcal.pipelines.PARTIAL", {"calwebb_spec2": frozenset({"NRS_FIXEDSLIT"}),
                                                        "calwebb_spec3": frozenset({"NRS_FIXEDSLIT"})})
    table = load_routing_table()
    soss = route({"INSTRUME": "X", "EXP_TYPE": "NIS_SOSS", "TSOVISIT": False}, table)
    slit = route({"INSTRUME": "X", "EXP_TYPE": "NRS_FIXEDSLIT"}, table)
    assert soss.stage2 is not None and soss.stage3 is not None and slit.stage2 is not None
    assert topic_for(soss.stage2, soss) == "streamcal.pending.calwebb_spec2"
    assert topic_for(soss.stage3, soss) == "streamcal.pending.calwebb_spec3"
    assert topic_for(slit.stage2, slit) == "streamcal.work.calwebb_spec2"


@pytest.mark.parametrize(("header", "topic"), [
    ({"EXP_TYPE": "NRS_FIXEDSLIT"}, "streamcal.work.calwebb_spec3"),
    ({"EXP_TYPE": "MIR_LRS-FIXEDSLIT"}, "streamcal.work.calwebb_spec3"),
    ({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": False}, "streamcal.work.calwebb_spec3"),
    ({"EXP_TYPE": "MIR_MRS"}, "streamcal.work.calwebb_spec3"),  # IFU: one combined cube per band
    ({"EXP_TYPE": "NRS_IFU"}, "streamcal.work.calwebb_spec3"),
    ({"EXP_TYPE": "NRS_MSASPEC"}, "streamcal.work.calwebb_spec3"),  # MOS: products per source
    ({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": True}, "streamcal.work.calwebb_tso3"),  # tso3 takes every TSO mode
    ({"EXP_TYPE": "NRC_IMAGE"}, "streamcal.work.calwebb_image3"),
])
def test_stage3_work_goes_to_the_work_topic_of_a_pipeline_that_takes_it(header: dict, topic: str) -> None:
    """calwebb_spec3 takes the single-trace, IFU and MOS modes (the worker parks what the tracker releases to a
    pipeline that does not take it: see the test above)."""
    found = route({"INSTRUME": "X", **header}, load_routing_table())
    assert found.stage3 is not None
    assert topic_for(found.stage3, found) == topic


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_version_1_records_stay_readable_unless_their_shape_changed(event):
    """3. Events written before schema 2 (a dead letter kept on disk, a record still in Kafka) are read as today's
    when their fields did not change; a version-1 work item or member-done event (a route, no run specification)
    is malformed and says what to do."""
    doc = {**json.loads(encode(event)), "schema_version": 1}
    if isinstance(event, WorkItem | MemberDone):
        doc["route"] = doc.pop("spec")["route"]
        with pytest.raises(MalformedEventError, match="land its raw file again"):
            decode(json.dumps(doc).encode())
    else:
        assert decode(json.dumps(doc).encode()) == event
