"""The Prometheus catalogue (ARCHITECTURE.md, "Metrics"): every metric streamcal exports, in one place.

The registry is injected, so every test (and every in-process ``streamcal run``) gets its own. Labels are
low-cardinality only: service names, topic names, outcomes, pipeline aliases, step names, EXP_TYPEs and
dead-letter reasons; never an exposure, file or association id. Metrics are observed in the parent
process only (worker processes return their timings), so client_python's multiprocess mode is not needed.

==========================================  =========  ====================  ============================
metric                                      type       labels                exported by
==========================================  =========  ====================  ============================
streamcal_events_total                      counter    service, topic,       every service
                                                       outcome
streamcal_inflight                          gauge      service               every service
streamcal_last_success_timestamp_seconds    gauge      service               every service
streamcal_deadletters_total                 counter    reason                every service
streamcal_consumer_lag                      gauge      group, topic          router, worker, tracker
streamcal_build_info                        gauge (1)  version, python       every process
streamcal_exposures_routed_total            counter    exp_type, stage1      router
streamcal_pipeline_seconds                  histogram  pipeline              worker
streamcal_step_seconds                      histogram  pipeline, step        worker
streamcal_associations_open                 gauge      —                     tracker
streamcal_waiting_work                      gauge      kind                  tracker
==========================================  =========  ====================  ============================

A process registers the families of the services it runs (``Metrics(registry, services=...)``; ``streamcal run``
runs them all): a router pod exports no pipeline histograms. The others still exist, unregistered, so the code
observing them needs no guard.

``streamcal_consumer_lag`` is the number of messages of a topic its consumer group has not committed yet,
sampled every ``lag_interval_s`` off the message path (:mod:`services.lag`): on Kafka the group's committed
offsets against the partitions' end offsets (every pod of a group reports the whole group's lag: aggregate with
``max by (group, topic)``), on the embedded bus its backlog. ``streamcal_waiting_work`` is the work parked until
something else happens: ``kind="pending"`` work items in the ``streamcal.pending.*`` topics (declared pipelines
not implemented yet), ``kind="catalog_waits"`` WFSS exposures the tracker holds until their direct-image
catalogue exists, ``kind="associations_open"`` associations with members done but not yet released.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.outcomes import Outcome

__all__ = ["CATALOGUE", "CONTENT_TYPE", "DURATION_BUCKETS", "FAMILIES", "WAITING_KINDS", "Metrics", "build_version"]

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
    "streamcal_consumer_lag",
    "streamcal_waiting_work",
)

_COMMON = ("streamcal_events_total", "streamcal_inflight", "streamcal_last_success_timestamp_seconds",
           "streamcal_deadletters_total", "streamcal_build_info")
#: The families each service needs (the process registers the union over the services it runs).
FAMILIES: dict[str, tuple[str, ...]] = {
    "watcher": _COMMON,
    "router": (*_COMMON, "streamcal_consumer_lag", "streamcal_exposures_routed_total"),
    "worker": (*_COMMON, "streamcal_consumer_lag", "streamcal_pipeline_seconds", "streamcal_step_seconds"),
    "tracker": (*_COMMON, "streamcal_consumer_lag", "streamcal_associations_open", "streamcal_waiting_work"),
}
#: The ``kind`` label values of ``streamcal_waiting_work``.
WAITING_KINDS = ("pending", "catalog_waits", "associations_open")


def build_version() -> str:
    """The installed streamcal version ("unknown" when running from an uninstalled tree)."""
    try:
        return metadata.version("streamcal")
    except metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """The catalogue, with the families of ``services`` registered in one registry.

    Parameters
    ----------
    registry : CollectorRegistry
        Where to register; a fresh one per test or per process.
    services : iterable of str, optional
        The services the process runs (keys of :data:`FAMILIES`); default all of them (``streamcal run``).
    """

    def __init__(self, registry: CollectorRegistry, *, services: Iterable[str] | None = None) -> None:
        self.registry = registry
        wanted = {f for s in (FAMILIES if services is None else services) for f in FAMILIES[s]}

        def into(name: str) -> CollectorRegistry | None:
            return registry if name in wanted else None

        self.events = Counter("streamcal_events", "Messages handled, by service, topic and outcome.",
                              ["service", "topic", "outcome"], registry=into("streamcal_events_total"))
        self.pipeline_seconds = Histogram("streamcal_pipeline_seconds", "Wall time of one pipeline run.",
                                          ["pipeline"], buckets=DURATION_BUCKETS,
                                          registry=into("streamcal_pipeline_seconds"))
        self.step_seconds = Histogram("streamcal_step_seconds", "Wall time of one calibration step, by pipeline.",
                                      ["pipeline", "step"], buckets=DURATION_BUCKETS,
                                      registry=into("streamcal_step_seconds"))
        self.routed = Counter("streamcal_exposures_routed", "Exposures routed, by EXP_TYPE and stage-1 pipeline.",
                              ["exp_type", "stage1"], registry=into("streamcal_exposures_routed_total"))
        self.deadletters = Counter("streamcal_deadletters", "Dead letters, by reason.", ["reason"],
                                   registry=into("streamcal_deadletters_total"))
        self.inflight = Gauge("streamcal_inflight", "Messages being handled now.", ["service"],
                              registry=into("streamcal_inflight"))
        self.associations_open = Gauge("streamcal_associations_open",
                                       "Associations with members done but not yet released.",
                                       registry=into("streamcal_associations_open"))
        self.last_success = Gauge("streamcal_last_success_timestamp_seconds",
                                  "Unix time of the last successfully handled message.", ["service"],
                                  registry=into("streamcal_last_success_timestamp_seconds"))
        self.consumer_lag = Gauge("streamcal_consumer_lag",
                                  "Messages of a topic not yet committed by a consumer group (sampled).",
                                  ["group", "topic"], registry=into("streamcal_consumer_lag"))
        self.waiting_work = Gauge("streamcal_waiting_work",
                                  "Work parked until something else happens, by kind (pending topics, catalogue "
                                  "waits, open associations).", ["kind"], registry=into("streamcal_waiting_work"))
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
