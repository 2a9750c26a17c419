"""The association tracker: ``association.member-done`` → ``work.<stage3>`` when an association completes.

Keyed by association id (the level-3 candidate key), so one tracker owns each association. Membership
comes from header rules over the stage-2 products on storage (:mod:`services.membership`) or, for an
upstream ASN file, from that file. An association is released to stage 3 exactly when its last member's
stage-2 product exists: the tracker writes the ASN (jwst format) beside the products and publishes a work
item for the stage-3 pipeline and an ``association.ready`` fact. An association still incomplete after
``deadline_s`` is released with the members it has, marked partial (``degraded_status`` in the ASN and
``partial`` in the work item).

State is only a cache: at start the tracker rebuilds it from the products and ASN files (releasing what
completed while it was down and re-sending releases whose stage-3 products are missing), so no trigger is
lost; a repeated trigger is harmless because stage 3 is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.bus import Bus, Message
from services.codec import decode, encode
from services.consumer import Activity, Consumer, RetryPolicy
from services.deadletters import DeadLetters, make_dead_letter
from services.events import (
    ASSOCIATION_READY,
    MEMBER_DONE,
    AssociationDeclared,
    AssociationReady,
    MemberDone,
    SpecDict,
    WorkItem,
    work_topic,
)
from services.membership import (
    HeaderCache,
    Member,
    asn_path_for,
    build_for,
    member_roots,
    observation_prefix,
    scan_members,
    stage3_products,
)
from services.metrics import Metrics, build_version
from services.outcomes import Ignored, Outcome, classify, outcome_of
from services.runtime import log_context
from streamcal.associations import Asn, is_complete, member_paths, read_asn, write_asn
from streamcal.errors import AssociationError, MalformedEventError, StreamcalError
from streamcal.routing import RoutingConfig, RunSpec

__all__ = ["GROUP", "Tracker"]

log = logging.getLogger(__name__)

GROUP = "streamcal.tracker"


@dataclass(slots=True)
class _Open:
    """An association with members done and not released yet."""

    prefix: str
    first_seen: float = field(default_factory=time.monotonic)
    last_event: bytes = b""


class Tracker:
    """The tracker service.

    Parameters
    ----------
    bus, metrics, deadletters
        Shared plumbing.
    products_dir : Path
    config : RoutingConfig
        To read the run specification products record (:meth:`RunSpec.from_header`).
    deadline_s, sweep_interval_s : float
        Partial release after ``deadline_s``; checked every ``sweep_interval_s``.
    policy : RetryPolicy
    activity : Activity, optional
    """

    name = "tracker"

    def __init__(self, *, bus: Bus, metrics: Metrics, deadletters: DeadLetters, products_dir: Path,
                 config: RoutingConfig, deadline_s: float, sweep_interval_s: float, policy: RetryPolicy,
                 activity: Activity | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.deadletters = deadletters
        self.products_dir = products_dir
        self.config = config
        self.deadline_s = deadline_s
        self.sweep_interval_s = sweep_interval_s
        self.cache = HeaderCache()
        self.open: dict[str, _Open] = {}
        self.released: set[str] = set()
        self.declared: dict[str, tuple[Asn, Path]] = {}
        self.declared_member: dict[str, str] = {}
        self._rebuilt = False
        self.consumer = Consumer(name=self.name, bus=bus, topics=[MEMBER_DONE], group=GROUP, handler=self.handle,
                                 metrics=metrics, deadletters=deadletters, policy=policy, concurrency=1,
                                 activity=activity)

    @property
    def ready(self) -> bool:
        """Rebuilt and subscribed."""
        return self._rebuilt and self.consumer.ready

    async def run(self, stop: asyncio.Event) -> None:
        """Rebuild, then track until stopped."""
        self.products_dir.mkdir(parents=True, exist_ok=True)
        await self.rebuild()
        sweeper = asyncio.create_task(self._sweep_loop(stop))
        try:
            await self.consumer.run(stop)
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)

    # -- rebuild ---------------------------------------------------------------------------------------
    async def rebuild(self) -> None:
        """Derive the state from storage; release what completed (or whose release was lost) meanwhile."""
        members = await asyncio.to_thread(scan_members, self.products_dir, self.config, self.cache)
        groups: dict[str, list[Member]] = {}
        for member in members:
            groups.setdefault(member.key, []).append(member)
        for key, group in sorted(groups.items()):
            kind = group[0].route.asn_type
            assert kind is not None
            written = await asyncio.to_thread(self._written_asn, group)
            complete = is_complete(kind, [m.header for m in group])
            if written is not None and len(await asyncio.to_thread(stage3_products, self.products_dir, written,
                                                                   group[0].spec)):
                self.released.add(key)
            elif written is not None or complete:
                await self._release_or_dead_letter(key, group, partial=not complete)
            else:
                self.open[key] = _Open(observation_prefix(group[0].root))
        self._rebuilt = True
        self.metrics.associations_open.set(len(self.open))
        log.info("tracker rebuilt from %s: %d released, %d open", self.products_dir, len(self.released),
                 len(self.open))

    def _written_asn(self, group: list[Member]) -> Asn | None:
        try:
            path = asn_path_for(self.products_dir, build_for(group, code_version=build_version()))
            return read_asn(path) if path.exists() else None
        except StreamcalError:
            return None

    # -- events ----------------------------------------------------------------------------------------
    async def handle(self, message: Message) -> None:
        """Handle one member-done or declared-association event."""
        event = decode(message.value)
        if not isinstance(event, MemberDone | AssociationDeclared):
            raise MalformedEventError(f"unexpected {type(event).__name__} on {MEMBER_DONE}")
        with log_context(association_id=event.association_id):
            if isinstance(event, AssociationDeclared):
                await self._declare(event, message.value)
            else:
                await self._member_done(event, message.value)

    async def _member_done(self, event: MemberDone, raw: bytes) -> None:
        declared = self.declared_member.get(event.exposure_id)
        if declared is not None:
            await self._check_declared(declared)
            return
        key = event.association_id
        if key in self.released:
            raise Ignored(f"{key} was already released; {event.exposure_id} is a repeat")
        if not await asyncio.to_thread(event.product_path.exists):
            raise FileNotFoundError(f"stage-2 product {event.product_path} of {event.exposure_id} is not on storage")
        route_ = RunSpec.from_dict(event.spec).route
        if route_.asn_type is None or route_.stage3 is None:
            raise Ignored(f"{event.exposure_id} has no stage 3")
        prefix = observation_prefix(event.exposure_id)
        group = await self._members(key, prefix)
        if is_complete(route_.asn_type, [m.header for m in group]):
            await self._release(key, group, partial=False)
        else:
            state = self.open.setdefault(key, _Open(prefix))
            state.last_event = raw
            self.metrics.associations_open.set(len(self.open))
            log.info("%s: %d member(s) done, waiting for more", key, len(group))

    async def _members(self, key: str, prefix: str) -> list[Member]:
        members = await asyncio.to_thread(scan_members, self.products_dir, self.config, self.cache, prefix=prefix)
        return [m for m in members if m.key == key]

    async def _release(self, key: str, group: list[Member], *, partial: bool, expected: str = "") -> None:
        """Write the ASN and publish the stage-3 work item and the ready fact (raises AssociationError)."""
        first = group[0].spec
        assert first.route.stage3 is not None
        asn = build_for(group, code_version=build_version())
        if partial:
            asn = dataclasses.replace(asn, degraded_status=(
                f"Partial association: released after the {self.deadline_s:g} s deadline with "
                f"{len(group)} member(s){expected}."))
        path = asn_path_for(self.products_dir, asn)
        await asyncio.to_thread(write_asn, asn, path)
        await self._publish_release(key, asn, path, first.route.stage3, first.to_dict(), partial)

    async def _publish_release(self, key: str, asn: Asn, path: Path, stage3: str, spec: SpecDict,
                               partial: bool) -> None:
        product = asn.products[0]
        item = WorkItem(pipeline=stage3, input_path=path, spec=spec, exposure_id=product.name,
                        association_id=key, partial=partial)
        await self.bus.publish(work_topic(stage3), key, encode(item))
        ready = AssociationReady(association_id=key, asn_path=path, pipeline=stage3,
                                 members=tuple(m.expname for m in product.members), partial=partial)
        await self.bus.publish(ASSOCIATION_READY, key, encode(ready))
        self.released.add(key)
        self.open.pop(key, None)
        self.metrics.associations_open.set(len(self.open))
        log.info("released %s%s to %s: %s (%d members)", key, " (partial)" if partial else "", stage3, path.name,
                 len(product.members))

    async def _release_or_dead_letter(self, key: str, group: list[Member], *, partial: bool,
                                      raw: bytes = b"") -> None:
        try:
            await self._release(key, group, partial=partial)
        except AssociationError as exc:
            self.open.pop(key, None)
            await self._dead_letter(key, exc, raw)

    async def _dead_letter(self, key: str, exc: BaseException, raw: bytes) -> None:
        """The association ``key`` cannot be released: one dead letter with the reason."""
        log.warning("%s: %s", key, exc)
        result = classify(exc)
        await self.deadletters.send(make_dead_letter(reason=str(result.reason), error=result.error,
                                                     service=self.name, topic=MEMBER_DONE, key=key, raw=raw,
                                                     attempts=1))

    def _forget(self, key: str) -> None:
        """Drop an association from the open (and declared) state."""
        self.open.pop(key, None)
        if key in self.declared:
            asn, _ = self.declared.pop(key)
            for root in member_roots(asn):
                self.declared_member.pop(root, None)

    # -- upstream ASN files --------------------------------------------------------------------------
    async def _declare(self, event: AssociationDeclared, raw: bytes) -> None:
        key = event.association_id
        if key in self.released:
            raise Ignored(f"{key} was already released")
        asn = await asyncio.to_thread(read_asn, event.asn_path)
        self.declared[key] = (asn, event.asn_path)
        for root in member_roots(asn):
            self.declared_member[root] = key
        self.open.setdefault(key, _Open("declared")).last_event = raw
        await self._check_declared(key)

    def _missing_declared(self, key: str) -> list[str]:
        asn, _ = self.declared[key]
        return [p.name for p in member_paths(asn, self.products_dir) if not p.exists()]

    async def _check_declared(self, key: str) -> None:
        if key in self.released:
            raise Ignored(f"{key} was already released")
        asn, source = self.declared[key]
        members = member_paths(asn, self.products_dir)
        present = await asyncio.to_thread(lambda: [p.exists() for p in members])
        if not all(present):
            self.open.setdefault(key, _Open("declared"))
            self.metrics.associations_open.set(len(self.open))
            log.info("%s: %d of %d member(s) on storage", key, sum(present), len(members))
            return
        header = await asyncio.to_thread(self.cache.primary, members[0])
        spec = RunSpec.from_header(header, self.config, source=members[0].name)
        if spec is None:
            raise AssociationError(f"{source.name}: member {members[0].name} records no run specification "
                                   "(not a streamcal product)")
        if spec.route.stage3 is None:
            raise AssociationError(f"{source.name}: its members have no stage-3 pipeline ({spec.route.exp_type})")
        path = self.products_dir / source.name
        await asyncio.to_thread(write_asn, asn, path)
        await self._publish_release(key, asn, path, spec.route.stage3, spec.to_dict(), partial=False)

    # -- deadlines -------------------------------------------------------------------------------------
    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_interval_s)
            if not stop.is_set():
                await self.sweep()

    async def sweep(self) -> None:
        """Release (partially) every association open for longer than the deadline.

        Each expiry runs through :func:`outcome_of`: an error that retrying cannot fix (a broken association,
        a declared member that never came) becomes a dead letter and the association is dropped; a
        retriable one (storage, bus) leaves it open for the next sweep. The sweeper itself never dies.
        """
        now = time.monotonic()
        for key, state in list(self.open.items()):
            if now - state.first_seen < self.deadline_s:
                continue
            with log_context(association_id=key):
                result, exc = await outcome_of(lambda: self._expire(key, state))  # noqa: B023 (awaited here)
                if result.outcome is Outcome.RETRY:
                    log.warning("%s: deadline release failed, retrying at the next sweep: %s", key, result.error)
                elif result.outcome is Outcome.DEAD_LETTER:
                    assert exc is not None
                    self._forget(key)
                    await self._dead_letter(key, exc, state.last_event)
        self.metrics.associations_open.set(len(self.open))

    async def _expire(self, key: str, state: _Open) -> None:
        if key in self.declared:
            missing = await asyncio.to_thread(self._missing_declared, key)
            _, source = self.declared[key]
            raise AssociationError(f"{source.name}: {len(missing)} member(s) not on storage after the "
                                   f"{self.deadline_s:g} s deadline: {', '.join(missing)}")
        group = await self._members(key, state.prefix)
        if not group:
            self.open.pop(key, None)
            return
        kind = group[0].route.asn_type
        assert kind is not None
        log.warning("%s: deadline of %g s reached with %d member(s): releasing", key, self.deadline_s, len(group))
        await self._release(key, group, partial=not is_complete(kind, [m.header for m in group]))
