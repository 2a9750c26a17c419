"""The metrics catalogue and the probe endpoints (services/metrics.py, services/http.py)."""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack

from prometheus_client import CollectorRegistry

from services.app import build_process
from services.events import ARRIVED
from services.http import HealthServer
from services.lag import LagSampler
from services.metrics import CATALOGUE, FAMILIES, Metrics
from services.settings import load_settings
from tests.services.support import fast_settings


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_the_whole_catalogue_is_registered_in_an_injected_registry():
    """1. Every metric of ARCHITECTURE.md exists in a fresh registry; declared series start at zero."""
    metrics = Metrics(CollectorRegistry())
    metrics.declare("router", ["streamcal.exposure.arrived"])
    text = metrics.render().decode()
    for name in CATALOGUE:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert ('streamcal_events_total{outcome="dead_letter",service="router",'
            'topic="streamcal.exposure.arrived"} 0.0') in text
    assert 'streamcal_build_info{python=' in text
    assert "le=\"1800.0\"" not in text  # histograms without observations have no buckets yet
    metrics.pipeline_seconds.labels(pipeline="calwebb_detector1").observe(0.3)
    bucket = 'streamcal_pipeline_seconds_bucket{le="1800.0",pipeline="calwebb_detector1"} 1.0'
    assert bucket in metrics.render().decode()


async def test_metrics_healthz_and_readyz_over_http():
    """2. /metrics serves the registry, /healthz the loop, /readyz the services' readiness; 404 otherwise."""
    ready = {"now": False}
    metrics = Metrics(CollectorRegistry())
    async with HealthServer(metrics, ready=lambda: ready["now"], host="127.0.0.1", port=0) as server:
        assert server.port > 0
        status, body = await get(server.port, "/metrics")
        assert status == 200 and "streamcal_build_info" in body
        assert (await get(server.port, "/healthz"))[0] == 200
        assert (await get(server.port, "/readyz"))[0] == 503
        ready["now"] = True
        assert await get(server.port, "/readyz") == (200, "ready\n")
        assert (await get(server.port, "/nope"))[0] == 404
        assert (await get(server.port, "/metrics", "POST"))[0] == 405


def test_a_process_registers_only_the_families_of_its_services():
    """3. Families per service (issue 14): a router exports no pipeline histograms, a worker no routing counter,
    a watcher no lag; with every service (``streamcal run``) everything is there."""
    def families(services):
        text = Metrics(CollectorRegistry(), services=services).render().decode()
        return {name for name in CATALOGUE
                if re.search(rf"^# TYPE {name.removesuffix('_total')}(_total)? ", text, re.MULTILINE)}

    assert families(None) == set(CATALOGUE)
    assert families(["router"]) == set(FAMILIES["router"]) and "streamcal_pipeline_seconds" not in families(["router"])
    assert {"streamcal_pipeline_seconds", "streamcal_step_seconds"} <= families(["worker"])
    assert "streamcal_exposures_routed_total" not in families(["worker"])
    assert "streamcal_consumer_lag" not in families(["watcher"])
    assert families(["tracker"]) >= {"streamcal_waiting_work", "streamcal_associations_open"}
    metrics = Metrics(CollectorRegistry(), services=["router"])
    metrics.step_seconds.labels(pipeline="calwebb_image2", step="photom").observe(1.0)  # not exported, no error
    assert "streamcal_step_seconds" not in metrics.render().decode()


async def test_the_server_binds_loopback_unless_told_otherwise():
    """4. metrics_host: 127.0.0.1 by default (``streamcal run`` on a laptop), STREAMCAL_METRICS_HOST=0.0.0.0 in the
    Helm chart; the server listens where it is told."""
    assert load_settings(environ={}).metrics_host == "127.0.0.1"
    assert load_settings(environ={"STREAMCAL_METRICS_HOST": "0.0.0.0"}).metrics_host == "0.0.0.0"
    async with HealthServer(Metrics(CollectorRegistry()), ready=lambda: True, port=0) as server:
        assert server.host == "127.0.0.1"
        assert server._server is not None
        assert {s.getsockname()[0] for s in server._server.sockets} == {"127.0.0.1"}
        assert (await get(server.port, "/healthz"))[0] == 200


async def test_a_served_router_exports_its_families_with_real_lag(tmp_path):
    """5. ``build_process`` for the router alone: /metrics has the router's families and the lag of its group,
    sampled after real messages wait on the embedded bus."""
    settings = fast_settings(tmp_path, metrics_port=0, metrics_host="127.0.0.1", lag_interval_s=0.1)
    (tmp_path / "ingest").mkdir()
    async with AsyncExitStack() as stack:
        proc = await build_process(settings, stack, roles=["router"], registry=CollectorRegistry())
        for i in range(3):
            await proc.bus.publish(ARRIVED, f"k{i}", b"{}")
        (sampler,) = [s for s in proc.services if isinstance(s, LagSampler)]
        await sampler.sample()
        assert proc.http is not None
        _, text = await get(proc.http.port, "/metrics")
    assert 'streamcal_consumer_lag{group="streamcal.router",topic="streamcal.exposure.arrived"} 3.0' in text
    assert "streamcal_exposures_routed_total" in text
    assert "streamcal_pipeline_seconds" not in text and "streamcal_waiting_work" not in text
