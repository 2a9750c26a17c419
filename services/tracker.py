"""The association tracker: ``association.member-done`` → ``work.<stage3>`` when an association completes.

Keyed by association id, so one tracker owns each association. Membership comes from upstream first: an
ASN file or an association pool dropped in the ingest folder (the router declares each of their level-3
associations, ``association.declared``) names every member, and an exposure listed there is never grouped
by header rules. For everything else (embedded use, no upstream generator), header rules over the stage-2
products on storage (:mod:`services.membership`) group by the level-3 candidate key.

An association is released to stage 3 when it completes: a declared one exactly when its last member's
stage-2 product exists (:class:`streamcal.associations.ledger.Ledger`); a header-rule one when
:func:`streamcal.associations.is_complete` says so. The tracker writes the ASN (jwst format) beside the
products and publishes a work item for the stage-3 pipeline and an ``association.ready`` fact. At
``deadline_s`` a header-rule association is released with the members it has, marked partial
(``degraded_status`` in the ASN and ``partial`` in the work item); a declared one becomes a dead letter
naming the missing members. Either way a member that arrives later is not ignored: it re-releases the
header-rule association with all its members (stage 3 runs again and makes the complete product), or
completes the declared one.

Declarations are keyed by the association's identity (:func:`services.membership.declared_association_id`):
the same members declared again change nothing; different members supersede. A release that fails
(storage, bus) leaves its association complete and unreleased, so the retried event (or the sweep) makes it.

WFSS exposures (NIS_WFSS, NRC_WFSS) come here after stage 1 too: their calwebb_spec2 needs the source catalog
of the observation's direct images, so the tracker holds their stage-2 work item until a calwebb_image3 product
of those images is on storage, then releases it with a level-2 WFSS ASN (:mod:`services.direct_images`; it reads
the ``products`` topic to hear of image3 runs).

State is only a cache: at start the tracker rebuilds it from the products, the declared associations it
keeps in ``<products>/associations`` (with a marker for those whose deadline was already reported) and the
released ASN files, releasing what completed while it was down and re-sending releases whose stage-3
products are missing; a repeated trigger is harmless because stage 3 is idempotent. A member whose stage-2
product is newer than its association's released ASN was recalibrated (its raw file replaced or re-delivered:
:mod:`services.products`): the association is released again and stage 3 re-runs on the new member.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.bus import Bus, Message
from services.codec import decode, encode
from services.confine import Roots
from services.consumer import Activity, Consumer, RetryPolicy
from services.deadletters import DeadLetters, make_dead_letter
from services.direct_images import CatalogWaits
from services.events import (
    ASSOCIATION_READY,
    MEMBER_DONE,
    PRODUCTS,
    AssociationDeclared,
    AssociationReady,
    MemberDone,
    ProductsWritten,
    SpecDict,
    WorkItem,
    work_topic,
)
from services.membership import (
    HeaderCache,
    Member,
    asn_path_for,
    build_for,
    declared_association_id,
    declared_dir,
    observation_prefix,
    scan_members,
    stage3_products,
)
from services.metrics import Metrics, build_version
from services.outcomes import Ignored, Outcome, classify, outcome_of
from services.products import outputs_of
from services.runtime import log_context
from streamcal.associations import Asn, asn_from_dict, check_upstream, is_complete, member_paths, read_asn, write_asn
from streamcal.associations.ledger import Ledger, member_names
from streamcal.errors import AssociationError, MalformedEventError, StreamcalError
from streamcal.routing import RoutingConfig, RunSpec

__all__ = ["GROUP", "Tracker"]

log = logging.getLogger(__name__)

GROUP = "streamcal.tracker"

_ASN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}_asn\.json$")


def _stage_products(event: MemberDone) -> tuple[str, ...]:
    """The other products stage 2 wrote for the member's exposure (jwst lists a background member by its
    ``_x1d``): every product the stage-2 pipeline declares, without the member product itself."""
    try:
        spec = RunSpec.from_dict(event.spec)
        stage2 = spec.route.stage2
        if stage2 is None:
            return ()
        names = outputs_of(stage2, event.exposure_id, spec).products
    except StreamcalError:  # an older event without a usable spec, or a pipeline without a declaration
        return ()
    return tuple(n for n in names if n != event.product_path.name)


def _newer_than(product: Path, released: Path) -> bool:
    """Whether a member's product was written after its association's ASN was (blocking): the member was
    recalibrated (its raw file replaced or re-delivered) since the release, so stage 3 must run again."""
    try:
        return product.stat().st_mtime_ns > released.stat().st_mtime_ns
    except OSError:
        return False


def _expired_marker(store: Path, name: str) -> Path:
    """Marks a declared association whose deadline passed (and was reported): not re-opened at a restart, but a
    member arriving later still completes it."""
    return store / f"{name}.expired"


def _membership(asn: Asn) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return [(p.name, tuple(sorted((m.expname, m.exptype) for m in p.members))) for p in asn.products]


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
        self.roots = Roots.of(products=products_dir)  # a member-done's product must lie in it
        self.config = config
        self.deadline_s = deadline_s
        self.sweep_interval_s = sweep_interval_s
        self.cache = HeaderCache()
        self.open: dict[str, _Open] = {}
        self.released: set[str] = set()
        self.ledger = Ledger()
        self.declared_names: dict[str, str] = {}
        self.refused: set[str] = set()
        self._rebuilt = False
        self.catalog_waits = CatalogWaits(bus=bus, products_dir=products_dir, cache=self.cache, deadline_s=deadline_s,
                                          code_version=build_version())
        self.consumer = Consumer(name=self.name, bus=bus, topics=[MEMBER_DONE, PRODUCTS], group=GROUP,
                                 handler=self.handle,
                                 metrics=metrics, deadletters=deadletters, policy=policy, concurrency=1,
                                 activity=activity)

    def held(self) -> dict[str, int]:
        """The work this tracker holds (``streamcal_waiting_work``): catalogue waits and open associations."""
        return {"catalog_waits": len(self.catalog_waits), "associations_open": len(self.open)}

    def longest_attempt(self) -> float:
        """Seconds the oldest handler attempt now running has been running (liveness)."""
        return self.consumer.longest_attempt()

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
        await self._rebuild_declared()
        members = await asyncio.to_thread(scan_members, self.products_dir, self.config, self.cache)
        groups: dict[str, list[Member]] = {}
        for member in members:
            if not self.ledger.is_member(member.product.name):  # upstream membership wins
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
        log.info("tracker rebuilt from %s: %d released, %d open (%d declared upstream)", self.products_dir,
                 len(self.released), len(self.open), len(self.ledger))

    async def _rebuild_declared(self) -> None:
        """Re-declare the associations kept in ``<products>/associations`` (a later version of the same
        association supersedes an earlier one)."""
        store = declared_dir(self.products_dir)
        paths = await asyncio.to_thread(lambda: sorted(store.glob("*_asn.json")) if store.is_dir() else [])
        for path in paths:
            try:
                asn = await asyncio.to_thread(read_asn, path)
                check_upstream(asn, path.name)
            except AssociationError as exc:
                log.warning("ignoring %s in %s: %s", path.name, store, exc)
                continue
            key = declared_association_id(asn)
            await self._supersede(key, path.name)
            self.declared_names[key] = path.name
            done = await asyncio.to_thread(self._done_members, asn)
            if not self.ledger.declare(key, asn, done=done):
                if not await asyncio.to_thread(_expired_marker(store, path.name).exists):
                    self.open[key] = _Open("declared")
                continue
            spec = await asyncio.to_thread(self._declared_spec, key)
            released = await asyncio.to_thread((self.products_dir / path.name).exists)
            made = [] if spec is None or not released else await asyncio.to_thread(
                stage3_products, self.products_dir, asn, spec)
            if made:
                self.released.add(key)
            else:
                await self._release_declared_or_refuse(key)

    def _written_asn(self, group: list[Member]) -> Asn | None:
        try:
            path = asn_path_for(self.products_dir, build_for(group, code_version=build_version()))
            return read_asn(path) if path.exists() else None
        except StreamcalError:
            return None

    # -- events ----------------------------------------------------------------------------------------
    async def handle(self, message: Message) -> None:
        """Handle one member-done or declared-association event, a WFSS stage-2 work item to hold, or a
        pipeline run's products (an image3 run may complete the catalog a WFSS exposure waits for)."""
        event = decode(message.value)
        if isinstance(event, ProductsWritten):
            if event.pipeline == "calwebb_image3" and len(self.catalog_waits):
                await self.catalog_waits.check()
            return
        if isinstance(event, WorkItem) and message.topic == MEMBER_DONE:
            with log_context(exposure_id=event.exposure_id, pipeline=event.pipeline):
                await self.catalog_waits.want(event, message.value)
            return
        if not isinstance(event, MemberDone | AssociationDeclared):
            raise MalformedEventError(f"unexpected {type(event).__name__} on {message.topic}")
        with log_context(association_id=event.association_id):
            if isinstance(event, AssociationDeclared):
                await self._declare(event, message.value)
            else:
                await self._member_done(event, message.value)

    async def _member_done(self, event: MemberDone, raw: bytes) -> None:
        await asyncio.to_thread(self.roots.require_inside, event.product_path, "products", what="stage-2 product")
        name = event.product_path.name
        if self.ledger.is_member(name):
            await self._declared_member_done(event, raw)
            return
        key = event.association_id
        if not await asyncio.to_thread(event.product_path.exists):
            raise FileNotFoundError(f"stage-2 product {event.product_path} of {event.exposure_id} is not on storage")
        route_ = RunSpec.from_dict(event.spec).route
        if route_.asn_type is None or route_.stage3 is None:
            raise Ignored(f"{event.exposure_id} has no stage 3")
        prefix = observation_prefix(event.exposure_id)
        group = await self._members(key, prefix)
        complete = is_complete(route_.asn_type, [m.header for m in group])
        if key in self.released:
            written = await asyncio.to_thread(self._written_asn, group)
            listed = written is not None and name in {m.expname for p in written.products for m in p.members}
            if written is None or (listed and not await asyncio.to_thread(
                    _newer_than, event.product_path, asn_path_for(self.products_dir, written))):
                raise Ignored(f"{key} was already released; {event.exposure_id} is a repeat")
            log.warning("%s: %s %s the release: releasing again with %d member(s), stage 3 re-runs", key,
                        event.exposure_id, "was recalibrated after" if listed else "arrived after", len(group))
            await self._release(key, group, partial=not complete)
        elif complete:
            await self._release(key, group, partial=False)
        else:
            state = self.open.setdefault(key, _Open(prefix))
            state.last_event = raw
            self.metrics.associations_open.set(len(self.open))
            log.info("%s: %d member(s) done, waiting for more", key, len(group))

    async def _declared_member_done(self, event: MemberDone, raw: bytes) -> None:
        """A member of associations declared upstream: count it; release every one of its associations that
        is complete and not released yet (so a retried event finishes what a failed release left)."""
        name = event.product_path.name
        if not await asyncio.to_thread(event.product_path.exists):
            raise FileNotFoundError(f"stage-2 product {event.product_path} of {event.exposure_id} is not on storage")
        self.ledger.done(name)
        for sibling in _stage_products(event):  # the exposure's other stage-2 products (a background's _x1d)
            if await asyncio.to_thread((event.product_path.parent / sibling).exists):
                self.ledger.done(sibling)
        keys = self.ledger.keys_of(name)
        changed = [k for k in keys if k in self.released and await asyncio.to_thread(
            _newer_than, event.product_path, self.products_dir / self.declared_names[k])]
        for key in changed:
            log.warning("%s: %s was recalibrated after the release: stage 3 re-runs", key, event.exposure_id)
        due = [k for k in keys if self.ledger.is_complete(k) and k not in self.refused
               and (k not in self.released or k in changed)]
        for key in due:
            await self._release_declared_or_refuse(key, raw)
        if not due:
            waiting = {k: len(self.ledger.missing(k)) for k in keys}
            if not any(waiting.values()):
                raise Ignored(f"{event.exposure_id}: its declared association(s) were already released")
            log.info("%s done: declared association(s) waiting for %s", event.exposure_id,
                     ", ".join(f"{k} ({n} more)" for k, n in sorted(waiting.items()) if n))

    async def _members(self, key: str, prefix: str) -> list[Member]:
        members = await asyncio.to_thread(scan_members, self.products_dir, self.config, self.cache, prefix=prefix)
        return [m for m in members if m.key == key and not self.ledger.is_member(m.product.name)]

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
        """Stop waiting for an association (a declared one stays in the ledger: a late member completes it)."""
        self.open.pop(key, None)

    # -- upstream ASN files and pools ------------------------------------------------------------------
    async def _declare(self, event: AssociationDeclared, raw: bytes) -> None:
        key = event.association_id
        name = event.asn_name or event.asn_path.name
        if not _ASN_NAME.match(name):
            raise AssociationError(f"declared association name {name[:80]!r} is not a bare *_asn.json name")
        if not event.asn_json:  # an older router's event pointed at a file: never read a path from an event
            raise AssociationError(f"{name}: the declaration does not carry its association (a router older than "
                                   "this tracker sent it): land the file again")
        try:
            asn = asn_from_dict(json.loads(event.asn_json), source=name)
        except json.JSONDecodeError as exc:
            raise AssociationError(f"{name}: the declared association is not JSON: {exc}") from exc
        check_upstream(asn, name)
        if key != declared_association_id(asn):
            raise AssociationError(f"{name}: declared as {key!r}, which is not its id {declared_association_id(asn)!r}")
        if key in self.ledger and _membership(self.ledger.asn(key)) == _membership(asn):
            raise Ignored(f"{key}: declared again ({name}) with the same members")
        await self._supersede(key, name)
        self.released.discard(key)  # changed members: tracked (and released) anew
        self.refused.discard(key)
        await asyncio.to_thread(write_asn, asn, declared_dir(self.products_dir) / name)
        await self._track_declared(key, name, asn, raw)

    async def _supersede(self, key: str, name: str) -> None:
        """Forget an earlier declaration of the same association kept under another file name."""
        old = self.declared_names.get(key)
        if old is None or old == name:
            return
        store = declared_dir(self.products_dir)

        def remove() -> None:
            for path in (store / old, _expired_marker(store, old)):
                path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)
        log.info("%s: %s supersedes %s", key, name, old)

    def _done_members(self, asn: Asn) -> list[str]:
        return [n for n in member_names(asn) if (self.products_dir / n).exists()]

    async def _track_declared(self, key: str, name: str, asn: Asn, raw: bytes = b"") -> None:
        """Put a declared association in the ledger, counting the members already on storage; release it
        if that completes it."""
        done = await asyncio.to_thread(self._done_members, asn)
        self.declared_names[key] = name
        if self.ledger.declare(key, asn, done=done):
            await self._release_declared_or_refuse(key, raw)
            return
        self.open.setdefault(key, _Open("declared")).last_event = raw
        self.metrics.associations_open.set(len(self.open))
        log.info("%s: %d of %d member(s) on storage", key, len(done), len(member_names(asn)))

    def _declared_spec(self, key: str) -> RunSpec | None:
        """The run specification a declared association's first science member recorded (blocking)."""
        asn = self.ledger.asn(key)
        for path in member_paths(asn, self.products_dir, exptypes=("science",)):
            if path.exists():
                return RunSpec.from_header(self.cache.primary(path), self.config, source=path.name)
        return None

    async def _release_declared_or_refuse(self, key: str, raw: bytes = b"") -> None:
        """Release a complete declared association; one whose members cannot make its stage 3 is a dead letter
        (once). Retriable failures propagate: the event is retried and the release happens then."""
        try:
            await self._release_declared(key)
        except AssociationError as exc:
            self.open.pop(key, None)
            self.refused.add(key)
            await self._dead_letter(key, exc, raw)

    async def _release_declared(self, key: str) -> None:
        """Write a complete declared association beside the products and release it (raises
        AssociationError when its members do not lead to the stage 3 it names)."""
        asn, name = self.ledger.asn(key), self.declared_names[key]
        spec = await asyncio.to_thread(self._declared_spec, key)
        if spec is None:
            raise AssociationError(f"{name}: no science member records a run specification (not streamcal products)")
        wanted = f"calwebb_{asn.asn_type}"
        if spec.route.stage3 != wanted:
            raise AssociationError(f"{name}: a {asn.asn_type} association, but its science members' route leads to "
                                   f"{spec.route.stage3 or 'no stage 3'} ({spec.route.exp_type})")
        path = self.products_dir / name
        await asyncio.to_thread(write_asn, asn, path)
        await self._publish_release(key, asn, path, wanted, spec.to_dict(), partial=False)

    # -- deadlines -------------------------------------------------------------------------------------
    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        generation = self.bus.generation
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_interval_s)
            if stop.is_set():
                break
            if self.bus.generation != generation:  # the broker lost its topics: member-done events with them
                generation = self.bus.generation
                log.warning("the broker lost its topics: rebuilding from storage")
                result, _ = await outcome_of(self.rebuild)
                if result.outcome is not Outcome.SUCCESS:
                    log.error("rebuilding after the broker's loss failed: %s", result.error)
            await self.sweep()

    async def sweep(self) -> None:
        """Release (partially) every association open for longer than the deadline.

        Each expiry runs through :func:`outcome_of`: an error that retrying cannot fix (a broken association,
        a declared member that never came) becomes a dead letter and the association is dropped; a
        retriable one (storage, bus) leaves it open for the next sweep. The sweeper itself never dies.
        """
        await self._sweep_catalog_waits()
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

    async def _sweep_catalog_waits(self) -> None:
        """Release the WFSS exposures whose catalog appeared; dead-letter those past the deadline."""
        if not len(self.catalog_waits):
            return
        result, _ = await outcome_of(self.catalog_waits.check)
        if result.outcome is not Outcome.SUCCESS:
            log.warning("WFSS catalog check failed, retrying at the next sweep: %s", result.error)
        for root, exc, raw in self.catalog_waits.expired():
            with log_context(exposure_id=root):
                await self._dead_letter(root, exc, raw)

    async def _expire(self, key: str, state: _Open) -> None:
        if key in self.ledger:
            if self.ledger.is_complete(key):  # complete, its release failed or is being retried: release now
                await self._release_declared(key)
                return
            missing = self.ledger.missing(key)
            name = self.declared_names[key]
            await asyncio.to_thread(_expired_marker(declared_dir(self.products_dir), name).touch)
            raise AssociationError(f"{name}: {len(missing)} member(s) not on storage after the "
                                   f"{self.deadline_s:g} s deadline: {', '.join(missing)} (a member arriving later "
                                   "still completes it)")
        group = await self._members(key, state.prefix)
        if not group:
            self.open.pop(key, None)
            return
        kind = group[0].route.asn_type
        assert kind is not None
        log.warning("%s: deadline of %g s reached with %d member(s): releasing", key, self.deadline_s, len(group))
        await self._release(key, group, partial=not is_complete(kind, [m.header for m in group]))
