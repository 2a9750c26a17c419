"""The events that flow between the services, and the topic names and keys they travel on.

Every event is a frozen, slotted, keyword-only dataclass with an ``event_id`` (UUID4), an aware UTC
``created`` timestamp, a ``schema_version`` and a ``type`` tag the codec dispatches on. Events carry paths
and identifiers, never pixel arrays; the run specification decided by the router (the route and each stage's
parameter file) travels as ``RunSpec.to_dict()``.

============================  ==========================================  =====================
topic                         event                                       key
============================  ==========================================  =====================
streamcal.exposure.arrived    :class:`ExposureArrived`                    exposure id
streamcal.work.<alias>        :class:`WorkItem`                           exposure id (stage 3:
                                                                          association id)
streamcal.pending.<alias>     :class:`WorkItem` a declared pipeline does  exposure id
                              not take yet (waits, never consumed)
streamcal.association.member  :class:`MemberDone`,                        association id
-done                         :class:`AssociationDeclared`
streamcal.association.ready   :class:`AssociationReady`                   association id
streamcal.products            :class:`ProductsWritten`                    exposure id
streamcal.deadletter          :class:`DeadLetter`                         the original key
============================  ==========================================  =====================

Encoding and decoding live only in :mod:`services.codec`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

from streamcal.pipelines import PARTIAL, implements
from streamcal.routing import Route

__all__ = [
    "ARRIVED",
    "ASSOCIATION_READY",
    "DEADLETTER",
    "MEMBER_DONE",
    "PRODUCTS",
    "SCHEMA_VERSION",
    "AssociationDeclared",
    "AssociationReady",
    "DeadLetter",
    "Event",
    "ExposureArrived",
    "MemberDone",
    "ProductsWritten",
    "SpecDict",
    "WorkItem",
    "alias_of",
    "all_topics",
    "is_pending",
    "pending_topic",
    "topic_for",
    "utcnow",
    "work_topic",
]

#: 2: work items and member-done events carry the run specification (``spec``) instead of the route alone.
SCHEMA_VERSION = 2

ARRIVED = "streamcal.exposure.arrived"
MEMBER_DONE = "streamcal.association.member-done"
ASSOCIATION_READY = "streamcal.association.ready"
PRODUCTS = "streamcal.products"
DEADLETTER = "streamcal.deadletter"
_WORK_PREFIX = "streamcal.work."
_PENDING_PREFIX = "streamcal.pending."

#: ``RunSpec.to_dict()``: JSON-safe values only.
SpecDict = dict[str, Any]


def work_topic(alias: str) -> str:
    """``streamcal.work.<alias>``: the topic a pipeline's workers consume."""
    return f"{_WORK_PREFIX}{alias}"


def pending_topic(alias: str) -> str:
    """``streamcal.pending.<alias>``: work for a declared pipeline that does not take that kind of exposure yet
    (:func:`streamcal.pipelines.implements`); no worker consumes it, so it waits, as work for an undeclared
    pipeline does, and the run's summary says why."""
    return f"{_PENDING_PREFIX}{alias}"


def topic_for(alias: str, route: Route) -> str:
    """The topic a route's work for pipeline ``alias`` goes to: its work topic, or its pending topic when the
    pipeline is declared but does not take the route's EXP_TYPE yet."""
    if alias in PARTIAL and not implements(alias, str(route.exp_type)):
        return pending_topic(alias)
    return work_topic(alias)


def alias_of(topic: str) -> str | None:
    """The pipeline alias of a work or pending topic, or None for any other topic."""
    for prefix in (_WORK_PREFIX, _PENDING_PREFIX):
        if topic.startswith(prefix):
            return topic[len(prefix):]
    return None


def is_pending(topic: str) -> bool:
    """Whether ``topic`` is a pending topic (:func:`pending_topic`)."""
    return topic.startswith(_PENDING_PREFIX)


def all_topics(aliases: Iterable[str]) -> tuple[str, ...]:
    """Every topic the system uses, given the pipeline aliases of the registry (sorted, no duplicates)."""
    fixed = (ARRIVED, MEMBER_DONE, ASSOCIATION_READY, PRODUCTS, DEADLETTER)
    return tuple(sorted({*fixed, *(work_topic(a) for a in aliases), *(pending_topic(a) for a in PARTIAL)}))


def utcnow() -> datetime:
    """An aware UTC timestamp."""
    return datetime.now(UTC)


def _check_aware(*stamps: datetime | None) -> None:
    for stamp in stamps:
        if stamp is not None and stamp.utcoffset() is None:
            raise ValueError(f"timestamp {stamp.isoformat()} has no time zone; events carry aware UTC datetimes")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureArrived:
    """A complete file landed in the ingest folder (a raw exposure or an upstream ASN file).

    Attributes
    ----------
    path : Path
        The file, absolute.
    size, mtime_ns : int
        The file version that passed the completeness gate (the watcher never emits one twice).
    file_kind : {"exposure", "asn", "pool"}
        ``*_uncal.fits``, ``*_asn.json`` or ``*_pool.csv`` (an association pool).
    exposure_id : str
        The root name (``jw..._nrca1``) or, for an ASN or a name that is not JWST's, the file name.
    landed_at : datetime
        The file's modification time: when it finished landing.
    """

    type: Literal["exposure.arrived"] = "exposure.arrived"
    path: Path
    size: int
    mtime_ns: int
    file_kind: Literal["exposure", "asn", "pool"] = "exposure"
    exposure_id: str
    landed_at: datetime
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created, self.landed_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem:
    """Run one pipeline on one input: an exposure (stages 1 and 2) or an ASN file (stage 3).

    Attributes
    ----------
    pipeline : str
        The alias to run; it is also the topic the item travels on.
    input_path : Path
        ``*_uncal.fits`` (stage 1), ``*_rate[ints].fits`` (stage 2) or ``*_asn.json`` (stage 3).
    raw_path : Path or None
        The raw exposure the work descends from (None at stage 3).
    spec : dict
        ``RunSpec.to_dict()`` of the exposure (stage 3: of its first member): the route and each stage's
        parameter file, decided once by the router.
    exposure_id : str
        Root name; at stage 3 the level-3 product name.
    association_id : str or None
        The level-3 candidate key (None when the route has no stage 3).
    attempt : int
        1 for the first delivery; replays from the dead letters count up.
    partial : bool
        Stage 3 only: the association was released at its deadline with members missing.
    landed_at : datetime or None
        When the raw file landed, for the file-landed → product latency.
    raw_digest : str or None
        The raw file's content identity (``sha256:<hex>``, :func:`services.ingest.content_digest`), taken by the
        router and recorded in every product (SCRAWSUM): a stage whose products record another version is run
        again, whatever the files' times say. None from an older router: file times decide.
    """

    type: Literal["work"] = "work"
    pipeline: str
    input_path: Path
    raw_path: Path | None = None
    spec: SpecDict
    exposure_id: str
    association_id: str | None = None
    attempt: int = 1
    partial: bool = False
    landed_at: datetime | None = None
    raw_digest: str | None = None
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created, self.landed_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberDone:
    """An exposure finished stage 2; its association may now be complete."""

    type: Literal["member.done"] = "member.done"
    association_id: str
    exposure_id: str
    product_path: Path
    raw_path: Path | None = None
    spec: SpecDict
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationDeclared:
    """Upstream names the members of an association (membership from upstream, not header rules).

    ``asn_json`` is the association itself (the tracker reads no path from an event) and ``asn_name`` the
    file name it is kept and released under; ``asn_path`` is where it came from: the ASN file dropped in the
    ingest folder, or the pool the router generated it from. The key (``association_id``) is the
    association's identity — type, program, candidate, product name — so a regenerated pool supersedes.
    """

    type: Literal["association.declared"] = "association.declared"
    association_id: str
    asn_path: Path
    asn_name: str = ""
    asn_json: str = ""
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationReady:
    """The tracker released an association to stage 3 (a fact, for operators and the run summary)."""

    type: Literal["association.ready"] = "association.ready"
    association_id: str
    asn_path: Path
    pipeline: str
    members: tuple[str, ...]
    partial: bool = False
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductsWritten:
    """A pipeline finished and its products are on storage."""

    type: Literal["products.written"] = "products.written"
    pipeline: str
    exposure_id: str
    association_id: str | None = None
    input_path: Path
    products: tuple[Path, ...]
    seconds: float
    skipped: bool = False
    exp_type: str | None = None
    landed_at: datetime | None = None
    next_topic: str | None = None
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created, self.landed_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """Work that cannot complete: why, where it came from, and the original bytes for a replay.

    Attributes
    ----------
    reason : str
        A :class:`streamcal.errors.DeadLetterReason` value (also the metric label).
    error : str
        The error text (type and message).
    service : str
        The service that gave up.
    source_topic, key : str
        Where the original message came from; a replay publishes ``original`` there with ``key``.
    original : str
        The original message bytes, base64; empty when the message was larger than the dead-letter topic can
        carry (:data:`services.deadletters.MAX_ORIGINAL_BYTES`): then only ``original_size``,
        ``original_sha256`` and ``original_at`` (``topic[partition]@offset``, where it was read) say what it was,
        and it cannot be replayed.
    exposure_id, path : str or None
        Best-effort identification (absent when the original could not be decoded).
    attempts : int
        How many times the work was tried.
    """

    type: Literal["deadletter"] = "deadletter"
    reason: str
    error: str
    service: str
    source_topic: str
    key: str
    original: str
    exposure_id: str | None = None
    path: str | None = None
    attempts: int = 1
    original_size: int = 0
    original_sha256: str = ""
    original_at: str | None = None
    event_id: UUID = field(default_factory=uuid4)
    created: datetime = field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_aware(self.created)

    @property
    def replayable(self) -> bool:
        """Whether the original bytes were kept (a message too large for the topic keeps only its digest)."""
        return bool(self.original) or self.original_size == 0


Event = (ExposureArrived | WorkItem | MemberDone | AssociationDeclared | AssociationReady | ProductsWritten
         | DeadLetter)
