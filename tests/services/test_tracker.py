"""The association tracker (services/tracker.py, services/membership.py).

These tests put stage-2 product *files* on storage (:func:`place_stage2_product`: the raw primary header, no
pixels) and send the member-done events a stage-2 worker sends: the tracker reads nothing else, and this
reaches association types whose stage 2 streamcal does not implement. tests/services/test_run.py exercises
the same path end to end with calwebb_image2 → calwebb_image3 and calwebb_wfs-image3.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.codec import encode
from services.consumer import RetryPolicy
from services.deadletters import DeadLetters, DeadLetterStore
from services.events import (
    ASSOCIATION_READY,
    DEADLETTER,
    MEMBER_DONE,
    AssociationDeclared,
    AssociationReady,
    MemberDone,
    WorkItem,
    work_topic,
)
from services.membership import declared_association_id
from services.metrics import Metrics
from services.products import outputs_of
from services.router import route_exposure
from services.tracker import GROUP, Tracker
from streamcal.associations import build_asn, read_asn, to_json, write_asn
from streamcal.datamodels import read_header
from streamcal.routing import RoutingConfig, load_pars, load_routing_table
from tests.services.support import events_on, eventually, place_stage2_product

TABLE = load_routing_table()
LIBRARY = load_pars(registry=TABLE.registry)
DITHER, TSO, CORON, WFSC = "jw01234001001", "jw01234002001", "jw01234003001", "jw01234005001"


@contextlib.asynccontextmanager
async def tracker_on(bus: InMemoryBus, products: Path, *, deadline_s: float = 3600.0):
    metrics = Metrics(CollectorRegistry())
    deadletters = DeadLetters(bus, metrics, DeadLetterStore(products / "deadletter"))
    tracker = Tracker(bus=bus, metrics=metrics, deadletters=deadletters, products_dir=products,
                      config=RoutingConfig(TABLE, LIBRARY), deadline_s=deadline_s, sweep_interval_s=0.1,
                      policy=RetryPolicy(max_attempts=2, base_s=0.01))
    stop = asyncio.Event()
    task = asyncio.create_task(tracker.run(stop))
    await eventually(lambda: tracker.ready)
    try:
        yield tracker, metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def member_done(bus: InMemoryBus, raw: Path, products: Path, *, place: bool = True) -> MemberDone:
    routed = route_exposure(raw, TABLE, LIBRARY)
    if place:
        place_stage2_product(raw, products, suffix="calints" if routed.route.stage2_input == "rateints" else "cal")
    assert routed.association_id is not None
    event = MemberDone(association_id=routed.association_id, exposure_id=routed.exposure_id,
                       product_path=products / str(outputs_of(str(routed.route.stage2), routed.exposure_id,
                                                              routed.spec).member), raw_path=raw,
                       spec=routed.spec.to_dict())
    await bus.publish(MEMBER_DONE, event.association_id, encode(event))
    return event


def declaration(upstream: Path) -> AssociationDeclared:
    """What the router sends for an ASN file: the association itself, under its identity."""
    asn = read_asn(upstream)
    return AssociationDeclared(association_id=declared_association_id(asn), asn_path=upstream,
                               asn_name=upstream.name, asn_json=to_json(asn))


async def settled(bus: InMemoryBus) -> None:
    await eventually(lambda: bus.backlog(GROUP) == 0)


def releases(bus: InMemoryBus, alias: str) -> list[WorkItem]:
    return [i for i in events_on(bus, work_topic(alias)) if isinstance(i, WorkItem)]


async def test_the_trigger_fires_exactly_once_when_the_last_member_finishes(program, tmp_path):
    """1. Three of four dither members done: nothing; the fourth: one stage-3 work item with a jwst ASN of all
    four beside the products, and one association.ready fact.
    2. Repeated member-done events afterwards are ignored: still one trigger."""
    bus, products = InMemoryBus(), tmp_path / "products"
    raws = program.files(DITHER)
    async with tracker_on(bus, products) as (_tracker, metrics):
        for raw in raws[:3]:
            await member_done(bus, raw, products)
        await settled(bus)
        assert releases(bus, "calwebb_image3") == [] and metrics.associations_open._value.get() == 1
        last = await member_done(bus, raws[3], products)
        await settled(bus)
        [item] = releases(bus, "calwebb_image3")
        for raw in (raws[3], raws[0]):  # a repeated event: the product is not rewritten
            await member_done(bus, raw, products, place=False)
        await settled(bus)
    assert len(releases(bus, "calwebb_image3")) == 1
    [ready] = events_on(bus, ASSOCIATION_READY)
    assert isinstance(ready, AssociationReady) and not ready.partial and len(ready.members) == 4
    assert item.association_id == last.association_id and not item.partial
    asn = read_asn(item.input_path)
    assert item.input_path.parent == products and asn.asn_type == "image3" and asn.asn_rule == "Asn_Lv3Image"
    assert sorted(m.expname for m in asn.products[0].members) == sorted(
        r.name.replace("_uncal", "_cal") for r in raws)
    assert item.exposure_id == asn.products[0].name == "jw01234-o001_t001_nircam_clear-f200w-sub160p"
    assert metrics.registry.get_sample_value(
        "streamcal_events_total", {"service": "tracker", "topic": MEMBER_DONE, "outcome": "ignored"}) == 2
    assert metrics.associations_open._value.get() == 0


async def test_state_is_rebuilt_from_storage_after_a_restart(program, tmp_path):
    """3. A new tracker on the same storage re-sends a release whose stage-3 products are missing (harmless),
    keeps an incomplete TSO association open, and fires it exactly once when its last segment arrives.
    4. Another restart re-sends the TSO release too: no calwebb_tso3 worker runs here, so its products are
    missing, and asking the pipelines about them must not stop the tracker."""
    bus, products = InMemoryBus(), tmp_path / "products"
    async with tracker_on(bus, products):
        for raw in program.files(DITHER):
            await member_done(bus, raw, products)
        await member_done(bus, program.files(TSO)[0], products)
        await settled(bus)
    assert len(releases(bus, "calwebb_image3")) == 1 and releases(bus, "calwebb_tso3") == []
    restarted = InMemoryBus()                                   # the embedded bus forgets everything
    async with tracker_on(restarted, products) as (tracker, _):
        assert len(releases(restarted, "calwebb_image3")) == 1 and len(tracker.open) == 1
        await member_done(restarted, program.files(TSO)[1], products)
        await settled(restarted)
        await member_done(restarted, program.files(TSO)[1], products, place=False)  # a repeat
        await settled(restarted)
    [tso] = releases(restarted, "calwebb_tso3")
    assert [m.expname for m in read_asn(tso.input_path).products[0].members] == [
        "jw01234002001_02101_00001-seg001_nrca3_calints.fits", "jw01234002001_02101_00001-seg002_nrca3_calints.fits"]
    again = InMemoryBus()  # 4. a release whose stage-3 products are missing is re-sent after a restart
    async with tracker_on(again, products) as (tracker, _):
        assert tracker.ready and len(releases(again, "calwebb_tso3")) == 1


async def test_an_incomplete_association_is_released_partially_at_its_deadline(program, tmp_path):
    """4. Two of four dither members after the deadline: released, marked partial in the ASN and the work item.
    5. A coronagraphic association without its PSF member cannot be built: a bad_association dead letter."""
    bus, products = InMemoryBus(), tmp_path / "products"
    async with tracker_on(bus, products, deadline_s=0.5):
        for raw in program.files(DITHER)[:2]:
            await member_done(bus, raw, products)
        science = [p for p in program.files(CORON) if not read_header(p).get("IS_PSF")]
        await member_done(bus, science[0], products)
        await eventually(lambda: len(releases(bus, "calwebb_image3")) == 1 and len(bus.records(DEADLETTER)) == 1,
                         timeout=10)
    [item] = releases(bus, "calwebb_image3")
    asn = read_asn(item.input_path)
    assert item.partial and len(asn.products[0].members) == 2
    assert asn.degraded_status is not None and asn.degraded_status.startswith("Partial association")
    [letter] = events_on(bus, DEADLETTER)
    assert letter.reason == "bad_association" and "psf" in letter.error.lower()
    assert letter.key.startswith("coron3:") and letter.source_topic == MEMBER_DONE


async def test_membership_from_an_upstream_asn_file(program, tmp_path):
    """6. An ASN dropped by an upstream generator defines the members: released when both WFS&C members'
    products exist, with the ASN copied beside the products; the header-rule association does not fire."""
    bus, products = InMemoryBus(), tmp_path / "products"
    raws = program.files(WFSC)
    asn = build_asn("wfs-image3", [(p.name.replace("_uncal", "_cal"), read_header(p)) for p in raws],
                    asn_id="c1000")
    upstream = write_asn(asn, tmp_path / "jw01234-c1000_20240101t000000_wfs-image3_00001_asn.json")
    declared = declaration(upstream)
    async with tracker_on(bus, products) as (tracker, _):
        await bus.publish(MEMBER_DONE, declared.association_id, encode(declared))
        await member_done(bus, raws[0], products)
        await settled(bus)
        assert releases(bus, "calwebb_wfs-image3") == [] and declared.association_id in tracker.open
        await member_done(bus, raws[1], products)
        await settled(bus)
    [item] = releases(bus, "calwebb_wfs-image3")
    assert item.association_id == declared.association_id and item.input_path == products / upstream.name
    assert read_asn(item.input_path).asn_id == "c1000"


async def test_a_declared_asn_whose_members_never_arrive_is_a_dead_letter_at_the_deadline(program, tmp_path):
    """7. An upstream ASN naming a member that never arrives waits until the deadline, then ends as a
    bad_association dead letter naming the missing file; it is not released."""
    bus, products = InMemoryBus(), tmp_path / "products"
    raws = program.files(WFSC)
    names = [p.name.replace("_uncal", "_cal") for p in raws]
    asn = build_asn("wfs-image3", [(n, read_header(p)) for n, p in zip(names, raws, strict=True)], asn_id="c1001")
    upstream = write_asn(asn, tmp_path / "jw01234-c1001_20240101t000000_wfs-image3_00001_asn.json")
    declared = declaration(upstream)
    async with tracker_on(bus, products, deadline_s=0.5) as (tracker, _):
        await bus.publish(MEMBER_DONE, declared.association_id, encode(declared))
        await member_done(bus, raws[0], products)
        await eventually(lambda: len(bus.records(DEADLETTER)) == 1, timeout=10)
        assert declared.association_id not in tracker.open
    assert releases(bus, "calwebb_wfs-image3") == []
    [letter] = events_on(bus, DEADLETTER)
    assert letter.reason == "bad_association" and letter.key == declared.association_id
    assert names[1] in letter.error and names[0] not in letter.error and "deadline" in letter.error
