"""The metrics catalogue and the probe endpoints (services/metrics.py, services/http.py)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from services.http import HealthServer
from services.metrics import CATALOGUE, Metrics


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
