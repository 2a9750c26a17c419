"""The router: ``exposure.arrived`` → the work topic of the exposure's stage-1 pipeline.

The run specification — the route and each stage's parameter file — is decided here, once, from a header-only
read (in a thread), and travels inside the work item (workers and pipelines never route); so does the
association candidate key when the route has a stage 3. An upstream ASN file is validated and
declared to the tracker; so is each level-3 association of an upstream association pool
(:func:`streamcal.associations.generator.generate`, jwst's rules), which the tracker then completes
member by member. Unreadable headers, a missing or unknown EXP_TYPE, missing keywords and bad
ASN files end as dead letters with their reason; nothing here stops the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

from services.bus import Bus, Message
from services.codec import decode_as, encode
from services.confine import Roots
from services.consumer import Activity, Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.events import ARRIVED, MEMBER_DONE, AssociationDeclared, ExposureArrived, WorkItem, work_topic
from services.ingest import content_digest
from services.membership import declared_association_id
from services.metrics import Metrics
from services.outcomes import Ignored
from services.runtime import log_context
from streamcal.associations import Asn, candidate_key, check_upstream, read_asn, to_json
from streamcal.associations.generator import named_associations, pool_version_id
from streamcal.associations.pool import Pool, read_pool
from streamcal.datamodels import identity_conflict, input_root, read_headers
from streamcal.errors import AssociationError
from streamcal.routing import ParsLibrary, Route, RoutingConfig, RoutingTable, RunSpec, decide_spec

__all__ = ["RoutedExposure", "Router", "decide_file", "route_exposure"]

log = logging.getLogger(__name__)

GROUP = "streamcal.router"


class RoutedExposure:
    """What the router learns from one raw file's headers."""

    __slots__ = ("association_id", "exposure_id", "spec")

    def __init__(self, exposure_id: str, spec: RunSpec, association_id: str | None) -> None:
        self.exposure_id = exposure_id
        self.spec = spec
        self.association_id = association_id

    @property
    def route(self) -> Route:
        return self.spec.route


def decide_file(path: Path, table: RoutingTable, library: ParsLibrary) -> RunSpec:
    """The run specification of a raw file from a header-only read (what ``streamcal route`` prints).

    Raises
    ------
    NotFitsError, CorruptFileError, UnknownExposureTypeError, BadKeywordValueError
        Not retriable.
    """
    return decide_spec(read_headers(path).primary, table=table, library=library, source=path.name)


def route_exposure(path: Path, table: RoutingTable, library: ParsLibrary) -> RoutedExposure:
    """Read the headers of a raw file and decide its run specification, id and association (blocking: run in
    a thread).

    Raises
    ------
    NotFitsError, CorruptFileError, UnknownExposureTypeError, MissingKeywordError, BadKeywordValueError
        Not retriable.
    FileNotFoundError
        The file vanished. Retriable.
    """
    headers = read_headers(path)
    primary = headers.primary
    spec = decide_spec(primary, table=table, library=library, source=path.name)
    exposure_id = input_root(path)  # products follow the file name, as jwst's do
    conflict = identity_conflict(path, primary)
    if conflict is not None:  # reported, never absorbed: two such files give two sets of products
        log.warning("%s", conflict)
    association = None
    if spec.route.asn_type is not None:
        association = candidate_key(primary, asn_type=spec.route.asn_type, source=path.name)
    return RoutedExposure(exposure_id, spec, association)


MAX_DECLARED_BYTES = 900_000
"""The largest association one ``association.declared`` event carries (Kafka's default message limit is 1 MB)."""


def _pool_associations(path: Path, mtime_ns: int) -> tuple[Pool, list[tuple[str, Asn, str]]]:
    """Read a pool, generate its associations and serialize them (blocking: one thread hop for all)."""
    pool = read_pool(path)
    named = named_associations(pool, version_id=pool_version_id(path.name, mtime_ns))
    return pool, [(name, asn, to_json(asn)) for name, asn in named]


class Router:
    """The router service.

    Parameters
    ----------
    bus, metrics, deadletters
        Shared plumbing.
    config : RoutingConfig
        The routing table and the parameter files, loaded (and checked) once at start.
    roots : Roots
        Arrivals are read only if they are regular files inside ``roots.ingest`` (:mod:`services.confine`).
    policy : RetryPolicy
    activity : Activity, optional
    """

    name = "router"

    def __init__(self, *, bus: Bus, metrics: Metrics, deadletters: DeadLetters, config: RoutingConfig,
                 roots: Roots, policy: RetryPolicy, activity: Activity | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.config = config
        self.roots = roots
        self.consumer = Consumer(name=self.name, bus=bus, topics=[ARRIVED], group=GROUP, handler=self.handle,
                                 metrics=metrics, deadletters=deadletters, policy=policy, concurrency=4,
                                 activity=activity)

    def longest_attempt(self) -> float:
        """Seconds the oldest handler attempt now running has been running (liveness)."""
        return self.consumer.longest_attempt()

    @property
    def ready(self) -> bool:
        """Subscribed to ``exposure.arrived``."""
        return self.consumer.ready

    async def run(self, stop: asyncio.Event) -> None:
        """Route until stopped."""
        await self.consumer.run(stop)

    async def handle(self, message: Message) -> None:
        """Route one arrival (raises on failure; the consumer classifies)."""
        event = decode_as(message.value, ExposureArrived)
        with log_context(exposure_id=event.exposure_id):
            # before any read: inside the ingest folder, a regular file, no symbolic link
            await asyncio.to_thread(self.roots.require_file, event.path, "ingest", what=f"arrived {event.file_kind}")
            if event.file_kind == "asn":
                await self._declare(event)
            elif event.file_kind == "pool":
                await self._declare_pool(event)
            else:
                await self._route(event)

    async def _route(self, event: ExposureArrived) -> None:
        routed = await asyncio.to_thread(route_exposure, event.path, self.config.table, self.config.library)
        digest = await asyncio.to_thread(content_digest, event.path)  # its identity: what products record
        found = routed.spec.route
        with log_context(exposure_id=routed.exposure_id, exp_type=found.exp_type, pipeline=found.stage1):
            item = WorkItem(pipeline=found.stage1, input_path=event.path, raw_path=event.path,
                            spec=routed.spec.to_dict(), exposure_id=routed.exposure_id,
                            association_id=routed.association_id, landed_at=event.landed_at, raw_digest=digest)
            await self.bus.publish(work_topic(found.stage1), routed.exposure_id, encode(item))
            self.metrics.routed.labels(exp_type=str(found.exp_type), stage1=found.stage1).inc()
            log.info("routed %s (%s) to %s", event.path.name, found.exp_type, " → ".join(found.stages))

    async def _declare(self, event: ExposureArrived) -> None:
        asn = await asyncio.to_thread(read_asn, event.path)
        if asn.level != 3:
            raise Ignored(f"{event.path.name} is a level-{asn.level} association: nothing to track")
        check_upstream(asn, event.path.name)
        await self._publish_declaration(event.path, event.path.name, asn, to_json(asn))
        log.info("declared %s association %s from %s", asn.asn_type, asn.asn_id, event.path.name)

    async def _publish_declaration(self, source: Path, name: str, asn: Asn, text: str) -> None:
        """One ``association.declared`` event carrying the association itself (the tracker reads no file)."""
        if len(text) > MAX_DECLARED_BYTES:
            raise AssociationError(f"{name}: {len(text)} bytes of JSON, more than the {MAX_DECLARED_BYTES} one event "
                                   "may carry")
        association_id = declared_association_id(asn)
        declared = AssociationDeclared(association_id=association_id, asn_path=source, asn_name=name, asn_json=text)
        await self.bus.publish(MEMBER_DONE, association_id, encode(declared))

    async def _declare_pool(self, event: ExposureArrived) -> None:
        pool, named = await asyncio.to_thread(_pool_associations, event.path, event.mtime_ns)
        for line, reason in pool.skipped:
            log.warning("%s, line %d: skipped: %s", event.path.name, line, reason)
        refused = []
        for name, asn, text in named:
            try:
                await self._publish_declaration(event.path, name, asn, text)
            except AssociationError as exc:
                refused.append(str(exc))
        kinds = Counter(str(asn.asn_type) for _, asn, _ in named)
        log.info("declared %d association(s) from pool %s (%d exposures): %s", len(named) - len(refused),
                 event.path.name, len(pool), ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")
        if refused:
            raise AssociationError(f"{event.path.name}: {len(refused)} association(s) not declared: "
                                   + "; ".join(refused))

