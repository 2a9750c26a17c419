"""Stage workers on the real pipelines (services/worker.py; services/pool.py where the process pool is what a
test is about, services/runner.InProcessRunner elsewhere: the same pipelines without spawning interpreters)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import pytest
from astropy.io import fits
from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.codec import encode
from services.confine import Roots
from services.consumer import RetryPolicy
from services.deadletters import DeadLetters
from services.events import (
    DEADLETTER,
    PRODUCTS,
    DeadLetter,
    ProductsWritten,
    WorkItem,
    pending_topic,
    utcnow,
    work_topic,
)
from services.metrics import Metrics
from services.pool import PipelinePool
from services.router import route_exposure
from services.runner import InProcessRunner
from services.worker import Worker, worker_group
from streamcal.datamodels import read_header
from streamcal.routing import load_pars, load_routing_table
from streamcal.simulate import ExposureSpec, simulate_exposure
from tests.services.support import Program, events_on, eventually

TABLE = load_routing_table()
LIBRARY = load_pars(registry=TABLE.registry)
MRS = "jw01234008002"          # the full-frame MIRI MRS exposure: the slowest of the program (~2 s)


def stage1_item(raw: Path) -> WorkItem:
    routed = route_exposure(raw, TABLE, LIBRARY)
    return WorkItem(pipeline=routed.route.stage1, input_path=raw, raw_path=raw, spec=routed.spec.to_dict(),
                    exposure_id=routed.exposure_id, association_id=routed.association_id, landed_at=utcnow())


@contextlib.asynccontextmanager
async def worker_on(bus: InMemoryBus, tmp_path: Path, program: Program, alias: str = "calwebb_detector1", *,
                    refs: Path | None = None, timeout_s: float = 120.0, processes: int = 2,
                    max_attempts: int = 2, pool: bool = False, ingest: Path | None = None):
    metrics = Metrics(CollectorRegistry())
    runner = (PipelinePool(processes=processes, timeout_s=timeout_s) if pool
              else InProcessRunner(processes=processes, timeout_s=timeout_s))
    async with runner:
        worker = Worker(alias=alias, bus=bus, metrics=metrics, deadletters=DeadLetters(bus, metrics), runner=runner,
                        roots=Roots.of(ingest=ingest or program.ingest, products=tmp_path / "products",
                                       refs=refs or program.refs),
                        policy=RetryPolicy(max_attempts=max_attempts, base_s=0.05, max_s=0.2))
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await eventually(lambda: worker.ready)
        try:
            yield worker, metrics, task
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_stage1_runs_in_the_pool_and_forwards_to_stage2(program, tmp_path):
    """1. A detector1 item produces rate + rateints, forwards the right stage-2 input (rate for imaging,
    rateints for TSO) to work.calwebb_image2 and announces the products; a dark's route ends at stage 1."""
    bus = InMemoryBus()
    image, tso = program.files("jw01234001001_02101_00001")[0], program.files("seg001")[0]
    dark = program.files("jw01234006001")[0]
    async with worker_on(bus, tmp_path, program, pool=True) as (_, metrics, _), \
            worker_on(bus, tmp_path, program, "calwebb_dark", pool=True) as (_, dark_metrics, _):
        for raw in (image, tso, dark):
            item = stage1_item(raw)
            await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 3, timeout=60)
    stage2 = {i.exposure_id: i for i in events_on(bus, work_topic("calwebb_image2"))}
    assert stage2["jw01234001001_02101_00001_nrca3"].input_path.name.endswith("_rate.fits")
    assert stage2["jw01234002001_02101_00001-seg001_nrca3"].input_path.name.endswith("_rateints.fits")
    assert all(i.input_path.exists() and i.association_id for i in stage2.values())
    written = {w.exposure_id: w for w in events_on(bus, PRODUCTS) if isinstance(w, ProductsWritten)}
    assert written["jw01234006001_02101_00001_nrca3"].next_topic is None
    assert [p.name for p in written["jw01234006001_02101_00001_nrca3"].products] == [
        "jw01234006001_02101_00001_nrca3_dark.fits"]
    assert sample(metrics, "streamcal_pipeline_seconds_count", pipeline="calwebb_detector1") == 2
    assert sample(dark_metrics, "streamcal_pipeline_seconds_count", pipeline="calwebb_dark") == 1
    assert sample(metrics, "streamcal_step_seconds_count", pipeline="calwebb_detector1", step="ramp_fit") == 2


async def test_duplicate_work_items_do_not_duplicate_products(program, tmp_path):
    """2. The same work item delivered twice at once (two pool slots free) runs once: the duplicate waits for
    the first, finds its products on storage (newer than the input) and only forwards again; a third,
    later delivery does the same. Forwarding again is harmless downstream."""
    bus = InMemoryBus()
    item = stage1_item(program.files("jw01234001001_02101_00003")[0])
    async with worker_on(bus, tmp_path, program) as (_, metrics, _):
        for _ in range(2):
            await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 2, timeout=60)
        rate = tmp_path / "products" / f"{item.exposure_id}_rate.fits"
        stamp = rate.stat().st_mtime_ns
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 3, timeout=60)
    assert [w.skipped for w in events_on(bus, PRODUCTS)] == [False, True, True]
    assert rate.stat().st_mtime_ns == stamp and len(bus.records(work_topic("calwebb_image2"))) == 3
    assert sorted(p.name for p in (tmp_path / "products").iterdir()) == [
        f"{item.exposure_id}_rate.fits", f"{item.exposure_id}_rateints.fits"]
    assert sample(metrics, "streamcal_pipeline_seconds_count", pipeline="calwebb_detector1") == 1


@pytest.mark.slow
async def test_two_files_with_one_header_identity_give_two_sets_of_products(program, tmp_path):
    """2c. Identity follows the file name, as jwst's does: a copy of an exposure under another name is another
    exposure (its own products), not a silent "already done" of the first (issue 10)."""
    bus = InMemoryBus()
    ingest = tmp_path / "ingest"
    ingest.mkdir()
    source = program.files("jw01234001001_02101_00001")[0]
    original = Path(shutil.copyfile(source, ingest / source.name))
    copy = Path(shutil.copyfile(source, ingest / "resent-by-hand_uncal.fits"))
    async with worker_on(bus, tmp_path, program, ingest=ingest) as _:
        for raw in (original, copy):
            item = stage1_item(raw)
            await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 2, timeout=60)
    written = {w.exposure_id: w for w in events_on(bus, PRODUCTS)}
    assert set(written) == {"jw01234001001_02101_00001_nrca3", "resent-by-hand"}
    assert not any(w.skipped for w in written.values())
    assert (tmp_path / "products" / "resent-by-hand_rate.fits").exists()


async def test_products_that_record_no_run_specification_are_made_again(program, tmp_path):
    """2b. Products on storage that do not record their run specification (made before streamcal recorded one)
    do not count as done: the stage runs once more and its products then record it."""
    bus = InMemoryBus()
    item = stage1_item(program.files("jw01234001001_02101_00002")[0])
    rate = tmp_path / "products" / f"{item.exposure_id}_rate.fits"
    async with worker_on(bus, tmp_path, program) as _:
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 1, timeout=60)
        with fits.open(rate, mode="update") as hdul:
            for key in [k for k in hdul[0].header if k.startswith("SC")]:
                del hdul[0].header[key]
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(PRODUCTS)) == 2, timeout=60)
    assert [w.skipped for w in events_on(bus, PRODUCTS)] == [False, False]
    assert read_header(rate)["SCSTAGE1"] == "calwebb_detector1"


async def test_a_worker_killed_mid_exposure_loses_it_to_another_consumer(program, tmp_path):
    """3. Worker A dies (its pool processes and its task killed) while running an exposure; the group gives
    the uncommitted item to worker B, which produces the products once; nothing is lost."""
    bus = InMemoryBus(partitions=1)            # one partition: exactly one member owns the work
    item = stage1_item(program.files(MRS)[0])
    rate = tmp_path / "products" / f"{item.exposure_id}_rate.fits"
    async with worker_on(bus, tmp_path, program, processes=1, pool=True) as (a, a_metrics, a_task), \
            worker_on(bus, tmp_path, program, processes=1, pool=True) as (_, b_metrics, _):
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: sample(a_metrics, "streamcal_inflight", service=a.name) == 1)
        await asyncio.sleep(0.3)
        assert not rate.exists()                                   # mid-exposure
        a.runner.kill()
        a_task.cancel()                                            # the process is gone: no commit, no events
        await eventually(lambda: len(bus.records(PRODUCTS)) == 1, timeout=60)
        await eventually(lambda: bus.backlog(worker_group("calwebb_detector1")) == 0)
    [written] = events_on(bus, PRODUCTS)
    assert rate.exists() and not written.skipped
    assert sample(b_metrics, "streamcal_events_total", service="worker.calwebb_detector1",
                  topic=work_topic("calwebb_detector1"), outcome="success") == 1
    assert sample(a_metrics, "streamcal_events_total", service="worker.calwebb_detector1",
                  topic=work_topic("calwebb_detector1"), outcome="success") == 0
    assert events_on(bus, DEADLETTER) == []


async def test_missing_references_are_dead_lettered_without_retry(program, tmp_path):
    """4. MissingReferenceError is not retriable: one attempt, a reference_missing dead letter, no products."""
    bus = InMemoryBus()
    item = stage1_item(program.files("jw01234001001_02101_00004")[0])
    empty = tmp_path / "empty_refs"
    empty.mkdir()
    async with worker_on(bus, tmp_path, program, refs=empty) as (_, _metrics, _):
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(bus.records(DEADLETTER)) == 1, timeout=60)
    [letter] = events_on(bus, DEADLETTER)
    assert isinstance(letter, DeadLetter) and letter.attempts == 1
    assert letter.reason in ("reference_missing", "reference_unavailable", "config")
    assert letter.exposure_id == item.exposure_id and not (tmp_path / "products").exists()


@pytest.mark.slow
async def test_a_crashed_pool_process_is_retried_and_a_stuck_one_times_out(program, tmp_path):
    """5. A pool process that dies mid-run (BrokenProcessPool) is retried on a fresh pool and succeeds;
    6. a run over the per-exposure timeout is killed, retried with backoff, then dead-lettered (timeout)."""
    bus = InMemoryBus()
    item = stage1_item(program.files(MRS)[0])
    async with worker_on(bus, tmp_path, program, processes=1, pool=True) as (worker, metrics, _):
        await bus.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: sample(metrics, "streamcal_inflight", service=worker.name) == 1)
        await asyncio.sleep(0.3)
        worker.runner.kill()
        await eventually(lambda: len(bus.records(PRODUCTS)) == 1, timeout=60)
    assert sample(metrics, "streamcal_events_total", service=worker.name, topic=work_topic("calwebb_detector1"),
                  outcome="retry") == 1
    slow = InMemoryBus()
    async with worker_on(slow, tmp_path / "t", program, processes=1, timeout_s=0.2, pool=True) as (worker, metrics,
                                                                                                      _):
        await slow.publish(work_topic(item.pipeline), item.exposure_id, encode(item))
        await eventually(lambda: len(slow.records(DEADLETTER)) == 1, timeout=60)
    [letter] = events_on(slow, DEADLETTER)
    assert letter.reason == "timeout" and letter.attempts == 2 and "exceeded the 0.2 s limit" in letter.error


async def test_work_a_pipeline_does_not_take_yet_is_parked_not_failed(program, tmp_path, monkeypatch):
    """An item on calwebb_spec2's work topic of a mode it does not take (a backlog from before it took it, an
    older router, a replayed dead letter) is moved to the pending topic untouched: no run, no dead letter.
    (calwebb_spec2 takes every spectroscopic mode now: a narrower PARTIAL stands for one that does not.)"""
    monkeypatch.setattr("streamcal.pipelines.PARTIAL", {"calwebb_spec2": frozenset({"NRS_FIXEDSLIT"})})
    bus = InMemoryBus()
    raw = simulate_exposure(ExposureSpec(exp_type="NIS_WFSS"), tmp_path / "raw", rng_seed=1).path
    stage1 = stage1_item(raw)
    item = WorkItem(pipeline="calwebb_spec2", input_path=tmp_path / "products" / f"{stage1.exposure_id}_rate.fits",
                    raw_path=raw, spec=stage1.spec, exposure_id=stage1.exposure_id, landed_at=utcnow())
    async with worker_on(bus, tmp_path, program, "calwebb_spec2") as (_, metrics, _):
        await bus.publish(work_topic("calwebb_spec2"), item.exposure_id, encode(item))
        await eventually(lambda: len(events_on(bus, pending_topic("calwebb_spec2"))) == 1)
    [parked] = events_on(bus, pending_topic("calwebb_spec2"))
    assert isinstance(parked, WorkItem) and parked.exposure_id == item.exposure_id
    assert not events_on(bus, DEADLETTER) and not events_on(bus, PRODUCTS)
    assert sample(metrics, "streamcal_pipeline_seconds_count", pipeline="calwebb_spec2") == 0
