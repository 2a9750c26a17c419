"""Associations from upstream: a pool dropped in the ingest folder defines membership (issue 10).

A coronagraphic science observation and its PSF reference, taken in another observation, form one coron3
association through a cross-observation candidate (c1000), as jwst's generator builds it; the router
declares it from the pool, the tracker releases it exactly when its last member's stage-2 product exists
(target acquisition included), a member arriving after the deadline still completes it, and the state
survives a restart. Header-rule associations, for exposures no upstream file lists, re-run stage 3 when a
member arrives after their release. Stage-2 products are placed as files (headers only), as in
tests/services/test_tracker.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.bus.memory import Faults
from services.codec import encode
from services.confine import Roots
from services.consumer import RetryPolicy
from services.deadletters import DeadLetters, DeadLetterStore
from services.events import (
    ARRIVED,
    ASSOCIATION_READY,
    DEADLETTER,
    MEMBER_DONE,
    AssociationDeclared,
    AssociationReady,
    MemberDone,
    WorkItem,
    work_topic,
)
from services.ingest import arrival, eligible, finished, looks_whole
from services.membership import declared_dir
from services.metrics import Metrics
from services.products import outputs_of
from services.router import GROUP as ROUTER_GROUP
from services.router import Router, route_exposure
from services.tracker import GROUP as TRACKER_GROUP
from services.tracker import Tracker
from streamcal.associations import read_asn
from streamcal.datamodels import read_header
from streamcal.routing import RoutingConfig, load_pars, load_routing_table
from streamcal.simulate import ExposureSpec, Target, simulate_exposure
from streamcal.simulate.pool import write_pool
from tests.services.support import events_on, eventually, place_stage2_product

TABLE = load_routing_table()
CONFIG = RoutingConfig(TABLE, load_pars(registry=TABLE.registry))
POOL = "jw01234_20261207t120000_pool.csv"


@pytest.fixture(scope="module")
def coron_visit(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Observation 11: a target acquisition and two coronagraphic science exposures; observation 12: the PSF
    reference star (another target)."""
    out = tmp_path_factory.mktemp("coron")
    psf_star = Target(targetid=2, name="PSF-STAR", ra=80.9, dec=-69.2)
    specs = [ExposureSpec(exp_type="NRC_TACQ", observation=11, exposure=1),
             ExposureSpec(exp_type="NRC_CORON", observation=11, exposure=2, nexposur=2, expcount=1),
             ExposureSpec(exp_type="NRC_CORON", observation=11, exposure=3, nexposur=2, expcount=2),
             ExposureSpec(exp_type="NRC_CORON", observation=12, exposure=1, is_psf=True, target=psf_star)]
    return [simulate_exposure(s, out, rng_seed=i + 7).path for i, s in enumerate(specs)]


@contextlib.asynccontextmanager
async def services_on(bus: InMemoryBus, products: Path, *, deadline_s: float = 3600.0):
    metrics = Metrics(CollectorRegistry())
    deadletters = DeadLetters(bus, metrics, DeadLetterStore(products / "deadletter"))
    policy = RetryPolicy(max_attempts=2, base_s=0.01)
    router = Router(bus=bus, metrics=metrics, deadletters=deadletters, config=CONFIG, policy=policy,
                    roots=Roots.of(ingest=Path("/")))  # files from several tmp folders; confinement: tests/reliability
    tracker = Tracker(bus=bus, metrics=metrics, deadletters=deadletters, products_dir=products, config=CONFIG,
                      deadline_s=deadline_s, sweep_interval_s=0.1, policy=policy)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(router.run(stop)), asyncio.create_task(tracker.run(stop))]
    await eventually(lambda: router.ready and tracker.ready)
    try:
        yield tracker
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def land_pool(bus: InMemoryBus, pool: Path) -> None:
    st = pool.stat()
    event = arrival(pool, st.st_size, st.st_mtime_ns)
    assert event.file_kind == "pool"
    await bus.publish(ARRIVED, event.exposure_id, encode(event))


async def stage2_done(bus: InMemoryBus, raw: Path, products: Path, *, place: bool = True) -> MemberDone:
    """What a stage-2 worker does for any exposure: its product on storage, then member-done (keyed by its
    header-rule association, or by itself when it has none). ``place=False``: a repeated event, the product
    is not rewritten."""
    routed = route_exposure(raw, TABLE, CONFIG.library)
    member = outputs_of(str(routed.route.stage2), routed.exposure_id, routed.spec).member
    assert member is not None
    if place:
        place_stage2_product(raw, products, suffix=member.removesuffix(".fits").rsplit("_", 1)[1])
    key = routed.association_id or routed.exposure_id
    event = MemberDone(association_id=key, exposure_id=routed.exposure_id, product_path=products / member,
                       raw_path=raw, spec=routed.spec.to_dict())
    await bus.publish(MEMBER_DONE, key, encode(event))
    return event


async def settled(bus: InMemoryBus) -> None:
    await eventually(lambda: bus.backlog(ROUTER_GROUP) == 0 and bus.backlog(TRACKER_GROUP) == 0)


def coron_releases(bus: InMemoryBus) -> list[WorkItem]:
    return [i for i in events_on(bus, work_topic("calwebb_coron3")) if isinstance(i, WorkItem)]


def _pool(tmp_path: Path, raws: list[Path]) -> Path:
    ingest = tmp_path / "ingest"
    ingest.mkdir(exist_ok=True)
    coron = [("c1000", "coronagraphy")]
    return write_pool(ingest / POOL, raws, candidates={11: coron, 12: coron})


async def test_a_psf_reference_from_another_observation_completes_one_coron3_association(coron_visit, tmp_path):
    """1. The pool declares exactly one coron3 association (c1000: neither observation has science and PSF
    alone); 2. it is released when the last of its four members is done, not before; 3. its ASN lists the two
    science exposures and the PSF (calints) and the target acquisition (cal), under jwst's names."""
    bus, products = InMemoryBus(), tmp_path / "products"
    pool = _pool(tmp_path, coron_visit)
    async with services_on(bus, products) as tracker:
        await land_pool(bus, pool)
        await settled(bus)
        declared = [e for e in events_on(bus, MEMBER_DONE) if isinstance(e, AssociationDeclared)]
        assert [d.asn_name for d in declared] == ["jw01234-c1000_20261207t120000_coron3_00001_asn.json"]
        for raw in coron_visit[:3]:
            await stage2_done(bus, raw, products)
            await settled(bus)
            assert coron_releases(bus) == []
        await stage2_done(bus, coron_visit[3], products)
        await settled(bus)
        assert declared[0].association_id not in tracker.open
    [item] = coron_releases(bus)
    asn = read_asn(item.input_path)
    assert item.input_path == products / declared[0].asn_name and not item.partial
    assert asn.asn_id == "c1000" and asn.products[0].name == "jw01234-c1000_t001_nircam_f210m-maskrnd-sub64p"
    members = {m.expname: m.exptype for m in asn.products[0].members}
    assert members == {
        "jw01234011001_02101_00002_nrca3_calints.fits": "science",
        "jw01234011001_02101_00003_nrca3_calints.fits": "science",
        "jw01234012001_02101_00001_nrca3_calints.fits": "psf",
        "jw01234011001_02101_00001_nrca3_cal.fits": "target_acquisition",
    }
    assert (declared_dir(products) / declared[0].asn_name).exists()


async def test_a_member_after_the_deadline_still_completes_the_declared_association(coron_visit, tmp_path):
    """4. Without the PSF the association is a dead letter at its deadline, naming the missing member; the PSF
    arriving later releases it, complete — never silence."""
    bus, products = InMemoryBus(), tmp_path / "products"
    pool = _pool(tmp_path, coron_visit)
    async with services_on(bus, products, deadline_s=0.6):
        await land_pool(bus, pool)
        for raw in coron_visit[:3]:
            await stage2_done(bus, raw, products)
        await eventually(lambda: len(bus.records(DEADLETTER)) == 1, timeout=10)
        [letter] = events_on(bus, DEADLETTER)
        assert letter.reason == "bad_association" and "jw01234012001_02101_00001_nrca3_calints.fits" in letter.error
        assert coron_releases(bus) == []
        await stage2_done(bus, coron_visit[3], products)
        await settled(bus)
    [item] = coron_releases(bus)
    assert not item.partial and len(read_asn(item.input_path).products[0].members) == 4


async def test_declared_associations_survive_a_restart(coron_visit, tmp_path):
    """5. Two members done, tracker restarted on an empty bus: the declaration is rebuilt from the products
    folder and the last members release it, once."""
    products = tmp_path / "products"
    pool = _pool(tmp_path, coron_visit)
    bus = InMemoryBus()
    async with services_on(bus, products):
        await land_pool(bus, pool)
        for raw in coron_visit[:2]:
            await stage2_done(bus, raw, products)
        await settled(bus)
    # the watcher's rescan skips the pool now: every association it declares is kept by the tracker
    assert finished(pool, products={}, products_dir=products, config=CONFIG, dead_lettered=lambda _: False)
    again = InMemoryBus()
    async with services_on(again, products) as tracker:
        assert len(tracker.open) == 1 and coron_releases(again) == []
        for raw in coron_visit[2:]:
            await stage2_done(again, raw, products)
        await settled(again)
        await stage2_done(again, coron_visit[3], products, place=False)  # a repeat
        await settled(again)
    assert len(coron_releases(again)) == 1


async def test_a_late_member_of_a_header_rule_association_re_runs_stage3(program, tmp_path):
    """6. No upstream file: two of four dither members are released partially at the deadline; each later
    member releases the association again with every member so far (stage 3 re-runs), the last one complete;
    a repeat is ignored."""
    bus, products = InMemoryBus(), tmp_path / "products"
    raws = program.files("jw01234001001")
    async with services_on(bus, products, deadline_s=0.5):
        for raw in raws[:2]:
            await stage2_done(bus, raw, products)
        await eventually(lambda: len(events_on(bus, work_topic("calwebb_image3"))) == 1, timeout=10)
        for raw in raws[2:]:
            await stage2_done(bus, raw, products)
            await settled(bus)
        await stage2_done(bus, raws[3], products, place=False)  # a repeat
        await settled(bus)
    items = [i for i in events_on(bus, work_topic("calwebb_image3")) if isinstance(i, WorkItem)]
    ready = [r for r in events_on(bus, ASSOCIATION_READY) if isinstance(r, AssociationReady)]
    assert [len(r.members) for r in ready] == [2, 3, 4]
    assert [i.partial for i in items] == [True, True, False]
    assert len({i.input_path for i in items}) == 1  # one ASN file, rewritten each time
    assert len(read_asn(items[-1].input_path).products[0].members) == 4


async def test_a_malformed_pool_is_a_dead_letter_and_other_files_go_on(program, tmp_path):
    """7. A pool with a malformed candidate list is refused with the line; the exposures still route."""
    bus, products = InMemoryBus(), tmp_path / "products"
    ingest = tmp_path / "ingest"
    ingest.mkdir()
    bad = ingest / "jw01234_20261207t000000_pool.csv"
    bad.write_text("FILENAME|ASN_CANDIDATE\njw01234001001_02101_00001_nrca3_uncal.fits|[('o001', 'observation')\n",
                   encoding="utf-8")
    assert eligible(bad) and not looks_whole(bad, bad.stat().st_size)
    async with services_on(bus, products):
        await land_pool(bus, bad)
        raw = program.files("jw01234001001")[0]
        st = raw.stat()
        await bus.publish(ARRIVED, raw.name, encode(arrival(raw, st.st_size, st.st_mtime_ns)))
        await settled(bus)
    [letter] = events_on(bus, DEADLETTER)
    assert letter.reason == "bad_association" and f"{bad.name}, line 2" in letter.error
    assert len(events_on(bus, work_topic("calwebb_detector1"))) == 1


def test_pool_rows_follow_the_raw_headers(coron_visit, tmp_path):
    """The simulator's pool carries what the generator groups by, straight from each raw header."""
    pool = _pool(tmp_path, coron_visit)
    from streamcal.associations.pool import read_pool

    rows = read_pool(pool).rows
    for raw, row in zip(coron_visit, rows, strict=True):
        header = read_header(raw)
        assert row.filename == raw.name and row["exp_type"] == str(header["EXP_TYPE"]).lower()
        assert row["obs_num"] == str(int(str(header["OBSERVTN"])))
        assert row["pupil"] == str(header["PUPIL"]).lower() and row["targetid"] == str(header["TARGETID"])
    assert [c.id for c in rows[3].candidates] == ["o012", "c1000"]


async def test_a_release_that_fails_is_retried_not_lost(coron_visit, tmp_path):
    """8. The release's publish fails once: the retried member-done event releases the association — once."""
    faults = Faults(publish_failures={work_topic("calwebb_coron3"): 1})
    bus, products = InMemoryBus(faults=faults), tmp_path / "products"
    async with services_on(bus, products, deadline_s=3600.0):
        await land_pool(bus, _pool(tmp_path, coron_visit))
        await settled(bus)
        for raw in coron_visit:
            await stage2_done(bus, raw, products)
        await settled(bus)
    assert faults.publish_failures[work_topic("calwebb_coron3")] == 0 and len(coron_releases(bus)) == 1
    assert events_on(bus, DEADLETTER) == []


async def test_a_pool_landing_after_its_members_releases_at_once(coron_visit, tmp_path):
    """9. Every member's stage 2 finished before the pool arrived: the declaration finds them on storage and
    releases the association immediately; header rules never made a coron3 of their own (no PSF in
    observation 11)."""
    bus, products = InMemoryBus(), tmp_path / "products"
    async with services_on(bus, products):
        for raw in coron_visit:
            await stage2_done(bus, raw, products)
        await settled(bus)
        assert coron_releases(bus) == []
        await land_pool(bus, _pool(tmp_path, coron_visit))
        await settled(bus)
    [item] = coron_releases(bus)
    assert item.association_id.startswith("asn:coron3:jw01234-c1000:")


async def test_a_regenerated_pool_supersedes_instead_of_doubling(coron_visit, tmp_path):
    """10. The same pool again under a new version id: nothing is released twice, and the tracker keeps one
    declaration (the old copy is removed); 11. an expired declaration is not re-opened (nor re-reported) by a
    restart, but still completes when its last member comes."""
    bus, products = InMemoryBus(), tmp_path / "products"
    first = _pool(tmp_path, coron_visit)
    async with services_on(bus, products, deadline_s=0.5):
        await land_pool(bus, first)
        for raw in coron_visit[:3]:
            await stage2_done(bus, raw, products)
        await eventually(lambda: len(bus.records(DEADLETTER)) == 1, timeout=10)
        second = first.with_name("jw01234_20261208t000000_pool.csv")
        second.write_bytes(first.read_bytes())
        await land_pool(bus, second)
        await settled(bus)
    stored = sorted(p.name for p in declared_dir(products).glob("*_asn.json"))
    assert stored == ["jw01234-c1000_20261207t120000_coron3_00001_asn.json"]  # the same members: ignored
    again = InMemoryBus()
    async with services_on(again, products, deadline_s=0.5) as tracker:
        assert tracker.open == {}
        await asyncio.sleep(1.0)  # past the deadline: nothing to report again
        assert events_on(again, DEADLETTER) == []
        await stage2_done(again, coron_visit[3], products)
        await settled(again)
    assert len(coron_releases(again)) == 1 and coron_releases(bus) == []


async def test_nods_listed_as_each_others_background_complete_with_their_spectra(tmp_path):
    """jwst lists each MIRI LRS nod also as the other's background, by its _x1d. The stage-2 worker reports the
    _cal; the tracker counts the exposure's other stage-2 products (its _x1d) with it, so the association
    completes at the last nod instead of waiting for names no event carries (and expiring)."""
    raws = [simulate_exposure(ExposureSpec(exp_type="MIR_LRS-FIXEDSLIT", observation=21, exposure=n,
                                           patttype="ALONG-SLIT-NOD", nexposur=2, expcount=n), tmp_path / "raw",
                              rng_seed=n).path for n in (1, 2)]
    bus, products = InMemoryBus(), tmp_path / "products"
    async with services_on(bus, products):
        await land_pool(bus, _pool(tmp_path, raws))
        await settled(bus)
        for raw in raws:
            place_stage2_product(raw, products, suffix="x1d")  # spec2 writes _cal and _x1d together
            await stage2_done(bus, raw, products)
            await settled(bus)
    [release] = [i for i in events_on(bus, work_topic("calwebb_spec3")) if isinstance(i, WorkItem)]
    asn = read_asn(release.input_path)
    assert {m.exptype for m in asn.products[0].members} == {"science", "background"}
    assert len(asn.products[0].members) == 4 and events_on(bus, DEADLETTER) == []
