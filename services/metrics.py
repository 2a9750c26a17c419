"""The Prometheus catalogue (ARCHITECTURE.md, "Metrics"): every metric streamcal exports, in one place.

The registry is injected, so every test (and every in-process ``streamcal run``) gets its own. Labels are
low-cardinality only: service names, topic names, outcomes, pipeline aliases, step names, EXP_TYPEs and
dead-letter reasons; never an exposure, file or association id. Metrics are observed in the parent
process only (worker processes return their timings), so client_python's multiprocess mode is not needed.

=============================================  =========  ==============================
metric                                         type       labels
=============================================  =========  ==============================
streamcal_events_total                         counter    service, topic, outcome
streamcal_pipeline_seconds                     histogram  pipeline
streamcal_step_seconds                         histogram  step
streamcal_exposures_routed_total               counter    exp_type, stage1
streamcal_deadletters_total                    counter    reason
streamcal_inflight                             gauge      service
streamcal_associations_open                    gauge      —
streamcal_last_success_timestamp_seconds       gauge      service
streamcal_build_info                           gauge (1)  version, python
=============================================  =========  ==============================
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.outcomes import Outcome

__all__ = ["CATALOGUE", "CONTENT_TYPE", "DURATION_BUCKETS", "Metrics", "build_version"]

#: Seconds, up to 30 min: calibration stages take from well under a second (subarrays) to many minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                    1200.0, 1800.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: The exported names (counters without their ``_total`` sample suffix handled by the client).
CATALOGUE = (
    "streamcal_events_total",
    "streamcal_pipeline_seconds",
    "streamcal_step_seconds",
    "streamcal_exposures_routed_total",
    "streamcal_deadletters_total",
    "streamcal_inflight",
    "streamcal_associations_open",
    "streamcal_last_success_timestamp_seconds",
    "streamcal_build_info",
)


def build_version() -> str:
    """The installed streamcal version ("unknown" when running from an uninstalled tree)."""
    try:
        return metadata.version("streamcal")
    except metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """The catalogue registered in one registry.

    Parameters
    ----------
    registry : CollectorRegistry
        Where to register; a fresh one per test or per process.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter("streamcal_events", "Messages handled, by service, topic and outcome.",
                              ["service", "topic", "outcome"], registry=registry)
        self.pipeline_seconds = Histogram("streamcal_pipeline_seconds", "Wall time of one pipeline run.",
                                          ["pipeline"], buckets=DURATION_BUCKETS, registry=registry)
        self.step_seconds = Histogram("streamcal_step_seconds", "Wall time of one calibration step.",
                                      ["step"], buckets=DURATION_BUCKETS, registry=registry)
        self.routed = Counter("streamcal_exposures_routed", "Exposures routed, by EXP_TYPE and stage-1 pipeline.",
                              ["exp_type", "stage1"], registry=registry)
        self.deadletters = Counter("streamcal_deadletters", "Dead letters, by reason.", ["reason"],
                                   registry=registry)
        self.inflight = Gauge("streamcal_inflight", "Messages being handled now.", ["service"], registry=registry)
        self.associations_open = Gauge("streamcal_associations_open",
                                       "Associations with members done but not yet released.", registry=registry)
        self.last_success = Gauge("streamcal_last_success_timestamp_seconds",
                                  "Unix time of the last successfully handled message.", ["service"],
                                  registry=registry)
        self.build_info = Gauge("streamcal_build_info", "Build information (value 1).", ["version", "python"],
                                registry=registry)
        self.build_info.labels(version=build_version(), python=platform.python_version()).set(1)

    def declare(self, service: str, topics: Iterable[str]) -> None:
        """Create a service's series at zero, so they exist before its first message (Prometheus practice)."""
        self.inflight.labels(service=service)
        self.last_success.labels(service=service)
        for topic in topics:
            for outcome in Outcome:
                self.events.labels(service=service, topic=topic, outcome=outcome.value)

    def render(self) -> bytes:
        """The text exposition of the registry."""
        return generate_latest(self.registry)
