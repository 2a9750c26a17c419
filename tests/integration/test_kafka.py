"""The event backbone on a real Kafka-protocol broker (Tansu): the same services, the same scenarios."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.bus import KafkaBus, read_topic
from services.cli import main
from services.codec import decode, encode
from services.events import ARRIVED, DEADLETTER, PRODUCTS, ProductsWritten, WorkItem, utcnow, work_topic
from services.ingest import arrival
from services.router import route_exposure
from services.settings import Settings
from streamcal.routing import load_pars, load_routing_table
from tests.integration.conftest import KAFKA_ENV
from tests.services.support import Program, eventually, fast_settings, http_get, land
from tests.services.test_run import assert_everything_processed, expected_releases, expected_waiting
from tests.services.test_tracker import member_done

pytestmark = pytest.mark.slow  # see pyproject.toml: deselected by the fast inner loop

TABLE = load_routing_table()
LIBRARY = load_pars(registry=TABLE.registry)
MRS = "jw01234008002"


def kafka_settings(tmp_path: Path, program: Program, url: str, **overrides: object) -> Settings:
    return replace(fast_settings(tmp_path, program, **overrides), bus=url, kafka_session_timeout_ms=6000,
                   kafka_heartbeat_ms=500)


def env() -> dict[str, str]:
    return {**os.environ, **KAFKA_ENV}


async def test_end_to_end_on_kafka_with_bad_inputs_duplicates_and_metrics(program, tmp_path, kafka, make_raw):
    """1. The program flows on Kafka as on the embedded bus: every exposure routed, stage-1 products for all,
    unimplemented stage-2 work waiting in its topic and reported, no duplicate products.
    2. A corrupt FITS, no EXP_TYPE, an unknown EXP_TYPE and a malformed message become dead letters in
    streamcal.deadletter (listed by `streamcal deadletters list --bus`); a duplicated arrival does not
    duplicate products. 3. /metrics shows the catalogue with real values."""
    ingest = tmp_path / "ingest"
    land(program.exposures, ingest)
    (ingest / "jw01234099001_02101_00001_nrca1_uncal.fits").write_bytes(program.exposures[0].read_bytes()[:50_000])
    no_exp, _ = make_raw(EXP_TYPE=None, EXPOSURE="00031")
    unknown, _ = make_raw(EXP_TYPE="NRC_BOGUS", EXPOSURE="00032")
    land([no_exp, unknown], ingest)
    started: list = []
    stop = asyncio.Event()
    settings = kafka_settings(tmp_path, program, kafka, metrics_port=0)
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await eventually(lambda: bool(started) and started[0].ready(), timeout=60)
    proc = started[0]
    await proc.bus.publish(ARRIVED, "junk", b"\x00 not an event")
    dup = arrival(ingest / program.exposures[0].name, program.exposures[0].stat().st_size,
                  (ingest / program.exposures[0].name).stat().st_mtime_ns)
    await proc.bus.publish(ARRIVED, dup.exposure_id, encode(dup))
    await eventually(lambda: len(proc.observer.tally.deadletters) == 4 and finished(program, tmp_path),
                     timeout=120)
    await asyncio.sleep(1.5)
    status, text = await asyncio.to_thread(http_get, proc.http.port, "/metrics")
    stop.set()
    result = await asyncio.wait_for(run, 60)
    tally = result.process.observer.tally
    assert result.status == 0 and status == 200
    assert sorted(d.reason for d in tally.deadletters.values()) == [
        "corrupt_file", "malformed_event", "unknown_exp_type", "unknown_exp_type"]
    assert tally.waiting(result.process.served) == expected_waiting(program)
    assert set(tally.released) == expected_releases(program) and tally.release_events == len(tally.released)
    assert len(tally.routes) == len(program.exposures)
    names = [p.name for p in (tmp_path / "products").glob("*.fits")]
    assert len(names) == len(set(names))
    assert 'streamcal_exposures_routed_total{exp_type="NRC_CORON",stage1="calwebb_detector1"} 2.0' in text
    assert 'streamcal_deadletters_total{reason="unknown_exp_type"} 2.0' in text
    assert 'streamcal_pipeline_seconds_count{pipeline="calwebb_guider"} 3.0' in text
    out = io.StringIO()
    assert await asyncio.to_thread(main, ["deadletters", "list", "--bus", kafka], out) == 0
    assert "4 dead letter(s) in streamcal.deadletter" in out.getvalue() and "NRC_BOGUS" in out.getvalue()


def finished(program: Program, tmp_path: Path) -> bool:
    try:
        assert_everything_processed(program, tmp_path / "products")
    except AssertionError:
        return False
    return True


def serve_worker(tmp_path: Path, program: Program, kafka: str, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "services.cli", "serve", "worker", "--pipeline", "calwebb_detector1",
               "--bus", kafka, "--ingest", str(program.ingest), "--products", str(tmp_path / "products"),
               "--refs", str(program.refs),
               "--metrics-port", "0", "--concurrency", "1"]
    with port_file.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in port_file.read_text().splitlines():
            if "metrics and probes on http://" in line:
                return proc, int(line.split("http://")[1].split(":")[1].split("/")[0])
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start: {port_file.read_text()[-2000:]}")


def inflight(port: int) -> float:
    _, text = http_get(port, "/metrics")
    for line in text.splitlines():
        if line.startswith('streamcal_inflight{service="worker.calwebb_detector1"}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_worker_process_killed_mid_exposure_loses_it_to_the_other_consumer(program, tmp_path, kafka):
    """4. Two `streamcal serve worker` processes share the calwebb_detector1 group; the one running an
    exposure is SIGKILLed mid-run; after the session timeout the other gets the uncommitted item and writes
    the products once; exactly one products event is published."""
    bus = KafkaBus(kafka.removeprefix("kafka://"))
    await bus.start()
    workers = [serve_worker(tmp_path, program, kafka, name) for name in ("a", "b")]
    try:
        for _, port in workers:
            await eventually(lambda port=port: http_get(port, "/readyz")[0] == 200, timeout=60)
        raw = program.files(MRS)[0]
        routed = route_exposure(raw, TABLE, LIBRARY)
        item = WorkItem(pipeline="calwebb_detector1", input_path=raw, raw_path=raw, spec=routed.spec.to_dict(),
                        exposure_id=routed.exposure_id, association_id=routed.association_id, landed_at=utcnow())
        await bus.publish(work_topic("calwebb_detector1"), item.exposure_id, encode(item))
        await eventually(lambda: any(inflight(port) == 1 for _, port in workers), timeout=60)
        busy = next(i for i, (_, port) in enumerate(workers) if inflight(port) == 1)
        rate = tmp_path / "products" / f"{item.exposure_id}_rate.fits"
        assert not rate.exists()
        os.killpg(workers[busy][0].pid, signal.SIGKILL)
        workers[busy][0].wait()
        survivor = workers[1 - busy][1]
        await eventually(rate.exists, timeout=90)
        success = ('streamcal_events_total{outcome="success",service="worker.calwebb_detector1",'
                   'topic="streamcal.work.calwebb_detector1"} 1.0')
        await eventually(lambda: success in http_get(survivor, "/metrics")[1], timeout=30)
        written = [decode(r.value) for r in await read_topic(kafka.removeprefix("kafka://"), PRODUCTS)]
        assert len(written) == 1 and isinstance(written[0], ProductsWritten) and not written[0].skipped
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
        await bus.stop()
    assert workers[1 - busy][0].returncode == 0                 # SIGTERM drained and exited 0


async def test_a_killed_run_restarted_on_kafka_ends_with_everything_processed(program, tmp_path, kafka):
    """5. `streamcal run --bus kafka://` is killed mid-run (SIGKILL to its process group); a second run
    against the same broker finishes everything without dead letters."""
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    land(program.exposures, ingest)
    command = [sys.executable, "-m", "services.cli", "run", "--ingest", str(ingest), "--products", str(products),
               "--refs", str(program.refs), "--poll-interval", "0.1", "--concurrency", "1", "--bus", kafka]
    log = tmp_path / "first-run.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen([*command, "--log-level", "INFO"], stdout=handle, stderr=subprocess.STDOUT,
                                env=env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while len(list(products.glob("*_rate.fits"))) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 3 <= len(list(products.glob("*_rate.fits"))) < 15, log.read_text()[-3000:]
    result = await run_system(kafka_settings(tmp_path, program, kafka), until_idle=3.0, install_signals=False,
                              registry=CollectorRegistry())
    assert result.status == 0
    assert_everything_processed(program, products)
    letters = await read_topic(kafka.removeprefix("kafka://"), DEADLETTER)
    assert letters == []


async def test_the_association_trigger_fires_exactly_once_on_kafka(program, tmp_path, kafka):
    """6. The tracker on Kafka: member-done events keyed by association id; three of four dither members
    release nothing, the fourth releases exactly one stage-3 work item; repeats change nothing. (Stage-2
    product files are put on storage as in tests/services/test_tracker.py.)"""
    settings = kafka_settings(tmp_path, program, kafka)
    started: list = []
    stop = asyncio.Event()
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         pipelines=[], on_start=started.append))
    await eventually(lambda: bool(started) and started[0].ready(), timeout=60)
    bus, products = started[0].bus, tmp_path / "products"
    raws = program.files("jw01234001001")
    for raw in raws[:3]:
        await member_done(bus, raw, products)
    await asyncio.sleep(2.0)
    assert started[0].observer.tally.released == {}
    for raw in (raws[3], raws[3], raws[0]):
        await member_done(bus, raw, products)
    await eventually(lambda: len(started[0].observer.tally.released) == 1, timeout=30)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.wait_for(run, 60)
    items = [decode(r.value) for r in await read_topic(kafka.removeprefix("kafka://"), work_topic("calwebb_image3"))]
    assert len(items) == 1 and isinstance(items[0], WorkItem) and len(items[0].spec["stages"]) > 0
    assert started[0].observer.tally.release_events == 1


async def test_the_producer_adapts_to_a_broker_without_idempotence(kafka, caplog):
    """kafka_idempotence=auto (the default) publishes on a broker that refuses InitProducerId, saying so once;
    kafka_idempotence=true insists and fails to start there."""
    bootstrap = kafka.removeprefix("kafka://")
    async with KafkaBus(bootstrap, topics=["t"]) as bus:
        await bus.publish("t", "k", b"v")
    assert "refuses idempotent producers" in caplog.text
    assert [r.value for r in await read_topic(bootstrap, "t")] == [b"v"]
    with pytest.raises(KafkaError):
        async with KafkaBus(bootstrap, idempotence=True):
            pass


async def test_a_broker_that_loses_its_data_is_recovered_from(program, tmp_path, restartable_broker, request):
    """Issue 13: the broker (memory storage) is killed and started again, empty, mid-run. /readyz turns 503
    while it is away and 200 when it is back; the topics are re-created; the watcher re-emits what was not
    finished and the tracker rebuilds; every file that landed ends as products, with no dead letters."""
    broker = restartable_broker
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    files = program.files("jw01234001001", "jw01234008002")  # the imaging dither (image3) and the MRS dither
    settings = kafka_settings(tmp_path, program, broker.url, metrics_port=0)
    land(files[:3], ingest)
    stop, started = asyncio.Event(), []
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await eventually(lambda: len(list(products.glob("*_rate.fits"))) >= 1, timeout=120)
    port = started[0].http.port
    assert (await asyncio.to_thread(http_get, port, "/readyz"))[0] == 200
    broker.kill()
    await readiness_becomes(port, 503, timeout=30)
    await asyncio.to_thread(broker.start)
    land(files[3:], ingest)
    await readiness_becomes(port, 200, timeout=60)
    await eventually(lambda: all_products(files, products), timeout=240)
    await eventually(lambda: any(products.glob("jw01234-o001_*_i2d.fits")), timeout=120)
    stop.set()
    result = await run
    assert result.status == 0
    assert await read_topic(broker.url.removeprefix("kafka://"), DEADLETTER) == []
    from tests.reliability.accounting import account, report

    ended = report(request, account(ingest, products, ()))
    assert ended.files_in == len(files) == ended.with_products and not ended.lost


def all_products(files: list[Path], products: Path) -> bool:
    """Every file's stage-2 member product is on storage (the routes of these files all have a stage 2)."""
    roots = [f.name.removesuffix("_uncal.fits") for f in files]
    return all((products / f"{r}_cal.fits").exists() for r in roots)


async def readiness_becomes(port: int, status: int, *, timeout: float) -> None:
    """Wait until /readyz answers ``status`` (asked from a thread: the server runs on this loop)."""
    deadline = time.monotonic() + timeout
    while (await asyncio.to_thread(http_get, port, "/readyz"))[0] != status:
        assert time.monotonic() < deadline, f"/readyz did not become {status} within {timeout} s"
        await asyncio.sleep(0.5)


async def test_on_kafka_hostile_files_and_a_poison_message_end_as_dead_letters_and_sigterm_drains(
        program, tmp_path, kafka, request):
    """Issue 13 on Kafka: a FIFO, a /dev/zero link and a directory under watched names and a 900 kB message
    that is not an event each end as one dead letter (the poison's without its bytes: a copy would be refused
    by the broker's 1 MB limit); a valid exposure landed afterwards is calibrated within 30 s; SIGTERM ends the
    real `streamcal run` process within its grace period (exit 143); every file that landed is accounted for."""
    from tests.reliability.accounting import account, report
    from tests.reliability.test_sigterm import GRACE_S, land_hostile

    ingest, products = tmp_path / "ingest", tmp_path / "products"
    ingest.mkdir()
    hostile = land_hostile(ingest)
    command = [sys.executable, "-m", "services.cli", "run", "--ingest", str(ingest), "--products", str(products),
               "--refs", str(program.refs), "--poll-interval", "0.1", "--grace", str(GRACE_S), "--concurrency", "1",
               "--bus", kafka]
    log = tmp_path / "run.log"
    bootstrap = kafka.removeprefix("kafka://")
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    try:
        async def letters() -> list[object]:
            return [decode(r.value) for r in await read_topic(bootstrap, DEADLETTER)]

        deadline = time.monotonic() + 90
        while len(await letters()) < hostile:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.5)
        async with KafkaBus(bootstrap) as bus:
            await bus.publish(ARRIVED, "poison", b"{" + b"x" * 900_000)
        raw = program.files("jw01234001001_02101_00001")[0]
        land([raw], ingest)
        root = raw.name.removesuffix("_uncal.fits")
        await eventually(lambda: (products / f"{root}_cal.fits").exists(), timeout=30)
        while len(await letters()) < hostile + 1:
            assert time.monotonic() < deadline + 30, log.read_text()[-3000:]
            await asyncio.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(proc.wait, GRACE_S + 10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert status == 143 and took < GRACE_S + 5, (status, took, log.read_text()[-3000:])
    found = await letters()
    poison = [d for d in found if getattr(d, "key", None) == "poison"]
    assert len(poison) == 1 and poison[0].reason == "malformed_event" and not poison[0].replayable
    ended = report(request, account(ingest, products, {d.key for d in found}))
    assert ended.files_in == hostile + 1 and ended.dead_letters == hostile and not ended.lost


async def test_kafka_mode_as_documented_one_serve_process_per_service(program, tmp_path, kafka, request):
    """Issue 14: the README's Kafka mode — `streamcal serve watcher|router|worker|tracker --bus kafka://…`, each
    service in its own process as each Kubernetes Deployment runs it — calibrates the imaging dither from raw
    ramps to its image3 mosaic; every process then drains on SIGTERM (how Kubernetes stops a pod) and exits 0.
    (`streamcal run`, a command a person runs, exits 143 instead: it was interrupted.)"""
    from tests.reliability.accounting import account, report

    ingest, products = tmp_path / "ingest", tmp_path / "products"
    ingest.mkdir()
    folders = ["--ingest", str(ingest), "--products", str(products), "--refs", str(program.refs)]
    roles = [["watcher"], ["router"], ["tracker"], *(["worker", "--pipeline", alias] for alias in
                                                     ("calwebb_detector1", "calwebb_image2", "calwebb_image3"))]
    procs = []
    try:
        for role in roles:
            log = tmp_path / f"{'-'.join(role)}.log"
            with log.open("wb") as out:
                procs.append((subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "serve", *role, "--bus", kafka, *folders,
                     "--poll-interval", "0.1", "--concurrency", "1", "--grace", "5"],
                    stdout=out, stderr=subprocess.STDOUT, env=env(), start_new_session=True), log))
        files = land(program.files("jw01234001001"), ingest)
        await eventually(lambda: any(products.glob("jw01234-o001_*_i2d.fits")), timeout=240)
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(proc.wait, 20) for proc, _ in procs]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert codes == [0] * len(procs), [log.read_text()[-1500:] for _, log in procs]
    assert await read_topic(kafka.removeprefix("kafka://"), DEADLETTER) == []
    ended = report(request, account(ingest, products, ()))
    assert ended.files_in == len(files) == ended.with_products and not ended.lost
