"""Liveness follows progress: /healthz turns unhealthy while a piece of work runs past ``stall_after_s``
(issue 13), and healthy again once it finishes.

A real stage-1 run stands for the stuck work here (a hung handler cannot be made on purpose without faking
one): with ``stall_after_s`` far below its run time, the worker is "stuck" for the length of the run.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.bus import InMemoryBus, Message
from services.consumer import Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.metrics import Metrics
from tests.services.support import Program, eventually, fast_settings, http_get, land, make_program


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Program:
    return make_program(tmp_path_factory.mktemp("dither"), ["imaging_dither"])


async def test_a_handler_that_never_returns_shows_as_a_growing_attempt():
    bus, metrics = InMemoryBus(), Metrics(CollectorRegistry())
    release = asyncio.Event()

    async def hang(message: Message) -> None:
        await release.wait()

    consumer = Consumer(name="hung", bus=bus, topics=["t"], group="g", handler=hang, metrics=metrics,
                        deadletters=DeadLetters(bus, metrics), policy=RetryPolicy(max_attempts=1))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    assert consumer.longest_attempt() == 0.0
    await bus.publish("t", "k", b"x")
    await eventually(lambda: consumer.longest_attempt() > 0.3)
    release.set()
    await eventually(lambda: consumer.longest_attempt() == 0.0)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_healthz_is_unhealthy_while_work_runs_past_the_stall_limit(program, tmp_path):
    settings = fast_settings(tmp_path, program, metrics_port=0, stall_after_s=0.3, concurrency=1)
    stop, started = asyncio.Event(), []
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await eventually(lambda: bool(started) and started[0].ready())
    port = started[0].http.port
    assert (await asyncio.to_thread(http_get, port, "/healthz"))[0] == 200
    land(program.files("jw01234001001_02101_00001"), tmp_path / "ingest")
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while not (products := list((tmp_path / "products").glob("*_cal.fits"))) and time.monotonic() < deadline:
        seen.append((await asyncio.to_thread(http_get, port, "/healthz"))[0])
        await asyncio.sleep(0.1)
    assert products and 503 in seen
    await eventually(lambda: started[0].alive())
    assert (await asyncio.to_thread(http_get, port, "/healthz"))[0] == 200
    stop.set()
    assert (await run).status == 0
