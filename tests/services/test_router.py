"""The router (services/router.py): arrivals → work topics, or dead letters with clear reasons."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.codec import encode
from services.confine import Roots
from services.consumer import RetryPolicy
from services.deadletters import DeadLetters, DeadLetterStore
from services.events import ARRIVED, DEADLETTER, MEMBER_DONE, AssociationDeclared, DeadLetter, WorkItem, work_topic
from services.ingest import arrival
from services.metrics import Metrics
from services.router import GROUP, Router
from streamcal.associations import build_asn, write_asn
from streamcal.datamodels import read_header
from streamcal.routing import RoutingConfig, load_pars, load_routing_table
from tests.services.support import events_on, eventually

TABLE = load_routing_table()


@contextlib.asynccontextmanager
async def router_on(tmp_path: Path):
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    store = DeadLetterStore(tmp_path / "products" / "deadletter")
    # these tests route files from the shared program folder and their own tmp folder: the whole file system
    # is their ingest folder (confinement is tests/reliability's)
    router = Router(bus=bus, metrics=metrics, deadletters=DeadLetters(bus, metrics, store),
                    config=RoutingConfig(TABLE, load_pars(registry=TABLE.registry)), roots=Roots.of(ingest=Path("/")),
                    policy=RetryPolicy(max_attempts=2, base_s=0.01))
    stop = asyncio.Event()
    task = asyncio.create_task(router.run(stop))
    await eventually(lambda: router.ready)
    try:
        yield bus, metrics, store
        await eventually(lambda: bus.backlog(GROUP) == 0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def publish_arrival(bus: InMemoryBus, path: Path) -> None:
    st = path.stat()
    event = arrival(path, st.st_size, st.st_mtime_ns)
    await bus.publish(ARRIVED, event.exposure_id, encode(event))


async def test_an_exposure_is_routed_with_its_route_and_association(program, tmp_path):
    """1. A raw file goes to work.<stage1> with the route inside and the level-3 candidate key."""
    raw = program.files("jw01234001001_02101_00002")[0]
    async with router_on(tmp_path) as (bus, metrics, _):
        await publish_arrival(bus, raw)
    [item] = events_on(bus, work_topic("calwebb_detector1"))
    assert isinstance(item, WorkItem) and item.input_path == raw and item.raw_path == raw
    assert item.exposure_id == "jw01234001001_02101_00002_nrca3"
    assert item.spec["route"]["stage2"] == "calwebb_image2" and item.spec["route"]["stage3"] == "calwebb_image3"
    assert item.association_id is not None and item.association_id.startswith("image3:jw01234:o001:nircam")
    assert bus.records(work_topic("calwebb_detector1"))[0].key == item.exposure_id
    sample = metrics.registry.get_sample_value("streamcal_exposures_routed_total",
                                               {"exp_type": "NRC_IMAGE", "stage1": "calwebb_detector1"})
    assert sample == 1.0


async def test_bad_files_and_malformed_events_become_dead_letters_while_the_rest_is_routed(program, tmp_path,
                                                                                        make_raw):
    """2. A corrupt FITS, a file without EXP_TYPE, an unknown EXP_TYPE and a malformed event each end as a
    dead letter (topic + record file) with its reason and the original bytes; good files still route."""
    good = program.files("jw01234006001")[0]
    truncated = tmp_path / "jw01234099001_02101_00001_nrca3_uncal.fits"
    truncated.write_bytes(good.read_bytes()[: 2880 * 4])
    no_exp_type, _ = make_raw(EXP_TYPE=None, EXPOSURE="00011")
    unknown, _ = make_raw(EXP_TYPE="NRC_BOGUS", EXPOSURE="00012")
    async with router_on(tmp_path) as (bus, metrics, store):
        for path in (truncated, no_exp_type, good, unknown):
            await publish_arrival(bus, path)
        await bus.publish(ARRIVED, "garbage", b'{"type": "exposure.arrived", "schema_version": 2, "path": 7}')
    letters = {d.reason: d for d in events_on(bus, DEADLETTER) if isinstance(d, DeadLetter)}
    reasons = sorted(d.reason for d in events_on(bus, DEADLETTER))
    assert reasons == ["corrupt_file", "malformed_event", "unknown_exp_type", "unknown_exp_type"]
    texts = " | ".join(d.error for d in events_on(bus, DEADLETTER))
    assert "EXP_TYPE is missing" in texts and "unknown EXP_TYPE 'NRC_BOGUS'" in texts
    assert "cannot be read as FITS" in letters["corrupt_file"].error
    malformed = letters["malformed_event"]
    assert base64.b64decode(malformed.original).startswith(b'{"type": "exposure.arrived"')
    assert malformed.source_topic == ARRIVED and malformed.key == "garbage" and malformed.service == "router"
    assert len(store.records()) == 4
    assert [i.exposure_id for i in events_on(bus, work_topic("calwebb_dark"))] == [
        "jw01234006001_02101_00001_nrca3"]
    assert metrics.registry.get_sample_value("streamcal_deadletters_total", {"reason": "unknown_exp_type"}) == 2


async def test_asn_files_are_declared_to_the_tracker(program, tmp_path):
    """3. A level-3 ASN file is declared on member-done keyed by its own id; a level-2 one is ignored; a
    broken one is a bad_association dead letter."""
    raws = program.files("jw01234001001")
    members = [(p.name.replace("_uncal", "_cal"), read_header(p)) for p in raws]
    level3 = write_asn(build_asn("image3", members), tmp_path / "jw01234-o001_20240101t000000_image3_00001_asn.json")
    doc = json.loads(level3.read_text())
    doc.update(asn_type="image2")
    doc["products"][0]["members"] = doc["products"][0]["members"][:1]
    level2 = tmp_path / "jw01234-o001_20240101t000000_image2_00001_asn.json"
    level2.write_text(json.dumps(doc))
    broken = tmp_path / "jw01234-o009_20240101t000000_image3_00001_asn.json"
    broken.write_text('{"asn_type": "image3"}')
    async with router_on(tmp_path) as (bus, metrics, _):
        for path in (level3, level2, broken):
            await publish_arrival(bus, path)
    [declared] = events_on(bus, MEMBER_DONE)
    assert isinstance(declared, AssociationDeclared) and declared.asn_path == level3
    assert declared.asn_name == level3.name and json.loads(declared.asn_json) == json.loads(level3.read_text())
    assert declared.association_id == "asn:image3:jw01234-o001:jw01234-o001_t001_nircam_clear-f200w-sub160p"
    assert [d.reason for d in events_on(bus, DEADLETTER)] == ["bad_association"]
    assert metrics.registry.get_sample_value(
        "streamcal_events_total", {"service": "router", "topic": ARRIVED, "outcome": "ignored"}) == 1


async def test_bad_asn_files_are_dead_letters_with_their_reason(program, tmp_path):
    """4. Malformed JSON, an unknown member exptype and a product without members each end as one
    bad_association dead letter whose error says what is wrong; nothing is declared."""
    raws = program.files("jw01234001001")
    members = [(p.name.replace("_uncal", "_cal"), read_header(p)) for p in raws]
    good = json.loads(write_asn(build_asn("image3", members), tmp_path / "model_asn.json").read_text())
    malformed = tmp_path / "jw01234-o001_20240101t000000_image3_00002_asn.json"
    malformed.write_text(json.dumps(good)[:-10])
    unknown = tmp_path / "jw01234-o001_20240101t000000_image3_00003_asn.json"
    good["products"][0]["members"][1]["exptype"] = "calibrator"
    unknown.write_text(json.dumps(good))
    empty = tmp_path / "jw01234-o001_20240101t000000_image3_00004_asn.json"
    good["products"][0]["members"] = []
    empty.write_text(json.dumps(good))
    async with router_on(tmp_path) as (bus, _, store):
        for path in (malformed, unknown, empty):
            await publish_arrival(bus, path)
    assert events_on(bus, MEMBER_DONE) == []
    letters = {Path(d.path).name if d.path else "": d for d in events_on(bus, DEADLETTER) if isinstance(d, DeadLetter)}
    assert {d.reason for d in letters.values()} == {"bad_association"} and len(letters) == 3
    assert "malformed JSON" in letters[malformed.name].error
    assert "unknown member exptype 'calibrator'" in letters[unknown.name].error
    assert "'members' must be a non-empty list" in letters[empty.name].error
    assert len(store.records()) == 3
