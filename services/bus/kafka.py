"""The Kafka bus (aiokafka): the same contract as the embedded bus, against a real broker.

* Producer: ``acks="all"``, idempotent when the broker supports it: ``idempotence=None`` (the default
  setting ``kafka_idempotence=auto``) asks for it and, when the broker refuses InitProducerId (Tansu,
  some proxies), says so in one warning and goes on without; ``publish`` awaits the broker's
  acknowledgement.
* Security: :class:`KafkaSecurity` (TLS, SASL PLAIN/SCRAM) applies to every client — producer, admin,
  consumers.
* Consumers: ``enable_auto_commit=False``; an offset is committed only when every earlier message of the
  partition is done (:class:`~services.bus.base.Watermark`), i.e. after its outcome was acknowledged.
  On a rebalance the bookkeeping of revoked partitions is dropped: their unfinished messages go to the
  new owner, and a late commit from here is refused by the broker and logged (the work is repeated,
  which deterministic product names make harmless).
* Topics are created at start with the configured partitions (topics that exist are left alone).
* A watchdog asks the broker for its topics every ``health_interval_s``: :attr:`KafkaBus.connected` says
  whether it answered lately (readiness). When topics it created are gone — a broker restarted on memory
  storage, or a wiped cluster — it creates them again, bumps :attr:`KafkaBus.generation` and makes every
  subscription rejoin; what the lost topics held is gone, and the services re-derive it from storage
  (the watcher re-emits unfinished files, the tracker rebuilds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from services.bus.base import BrokerUnavailableError, Message, StartFrom, Watermark
from services.bus.memory import Record

__all__ = ["KafkaBus", "KafkaSecurity", "KafkaSubscription", "read_topic"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How the clients authenticate and encrypt (aiokafka's ``security_protocol``, ``ssl_context`` and
    ``sasl_*``). The default is PLAINTEXT."""

    protocol: str = "PLAINTEXT"
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(
                cafile=None if self.cafile is None else str(self.cafile),
                certfile=None if self.certfile is None else str(self.certfile),
                keyfile=None if self.keyfile is None else str(self.keyfile))
        if self.protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options


class KafkaBus:
    """A :class:`~services.bus.base.Bus` on Kafka.

    Parameters
    ----------
    bootstrap : str
        ``host:port[,host:port]``.
    topics : sequence of str
        Created at :meth:`start` if missing.
    partitions, replication : int
        For the created topics.
    idempotence : bool or None
        Idempotent producer: True insists, False never, None (auto) when the broker supports it.
    security : KafkaSecurity
    session_timeout_ms, heartbeat_ms, max_poll_interval_ms : int
        Consumer group liveness (a killed consumer's partitions move after the session timeout; a
        consumer busy longer than ``max_poll_interval_ms`` between fetches is considered failed).
    fetch_max_wait_ms : int
        How long the broker may hold an empty fetch.
    client_id : str
    security : KafkaSecurity
    health_interval_s : float
        How often the watchdog asks the broker for its topics; it is not :attr:`connected` after three
        intervals without an answer.
    """

    def __init__(self, bootstrap: str, *, topics: Sequence[str] = (), partitions: int = 4, replication: int = 1,
                 idempotence: bool | None = None, session_timeout_ms: int = 10_000, heartbeat_ms: int = 1_000,
                 max_poll_interval_ms: int = 300_000, fetch_max_wait_ms: int = 500,
                 client_id: str = "streamcal", security: KafkaSecurity | None = None,
                 health_interval_s: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.topics = tuple(topics)
        self.partitions = partitions
        self.replication = replication
        self.idempotence = idempotence
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.client_id = client_id
        self.security = security or KafkaSecurity()
        self.health_interval_s = health_interval_s
        self._producer: AIOKafkaProducer | None = None
        self._subscriptions: list[KafkaSubscription] = []
        self._generation = 0
        self._last_answer = 0.0
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """The broker answered the watchdog within the last three intervals."""
        return time.monotonic() - self._last_answer < 3 * self.health_interval_s

    @property
    def generation(self) -> int:
        """How many times the broker lost the topics and they were created again."""
        return self._generation

    async def start(self) -> None:
        """Create missing topics and start the producer (idempotent)."""
        if self._producer is not None:
            return
        if self.topics:
            await self.create_topics(self.topics)
        self._last_answer = time.monotonic()
        try:
            self._producer = await self._start_producer(self.idempotence is not False)
        except KafkaError as exc:
            if self.idempotence is not None:  # asked for explicitly: the broker's refusal is the answer
                raise
            log.warning("the Kafka broker at %s refuses idempotent producers (%s): publishing without "
                        "idempotence (set kafka_idempotence=false to skip this check)", self.bootstrap, exc)
            self._producer = await self._start_producer(False)
        self._watchdog = asyncio.create_task(self._watch_broker())

    async def _watch_broker(self) -> None:
        """Every ``health_interval_s``: is the broker there, and does it still hold our topics?"""
        while True:
            await asyncio.sleep(self.health_interval_s)
            try:
                missing = await asyncio.wait_for(self._missing_topics(), timeout=max(1.0, self.health_interval_s))
            except (KafkaError, OSError, TimeoutError) as exc:
                if self.connected:
                    log.warning("the Kafka broker at %s does not answer (%s)", self.bootstrap, exc)
                continue
            if not self.connected:
                log.info("the Kafka broker at %s answers again", self.bootstrap)
            self._last_answer = time.monotonic()
            if missing:
                log.error("the Kafka broker at %s lost %d topic(s) (%s): creating them again; what they held is "
                          "gone and is re-derived from storage", self.bootstrap, len(missing),
                          ", ".join(sorted(missing)[:5]))
                try:
                    await self.create_topics(missing)
                except (KafkaError, OSError) as exc:
                    log.warning("re-creating the topics failed (%s): trying again", exc)
                    continue
                self._generation += 1

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        """An admin client, closed however it ends (also when it cannot start: a broker that is away must not
        leave half-open connections behind)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                    **self.security.client_options())
        try:
            await admin.start()
            yield admin
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[AIOKafkaConsumer]:
        """A consumer outside any group (offsets and metadata), stopped however it ends."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self.client_id, group_id=None,
                                    enable_auto_commit=False, **self.security.client_options())
        try:
            await consumer.start()
            yield consumer
        finally:
            await _stop_quietly(consumer)

    async def _missing_topics(self) -> list[str]:
        async with self._admin() as admin:
            existing = set(await admin.list_topics())
        return [t for t in self.topics if t not in existing]

    async def _start_producer(self, idempotent: bool) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                                    enable_idempotence=idempotent, **self.security.client_options())
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def create_topics(self, topics: Sequence[str]) -> None:
        """Create the topics that do not exist yet."""
        async with self._admin() as admin:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                response = await admin.create_topics(
                    [NewTopic(t, num_partitions=self.partitions, replication_factor=self.replication)
                     for t in missing])
                for error in getattr(response, "topic_errors", ()):
                    if error[1] not in (0, _TOPIC_ALREADY_EXISTS):
                        log.warning("creating topic %s failed with error code %s", error[0], error[1])
                log.info("created %d topic(s) with %d partitions", len(missing), self.partitions)

    async def stop(self) -> None:
        """Close the subscriptions and flush the producer (idempotent)."""
        if self._watchdog is not None:
            watchdog, self._watchdog = self._watchdog, None
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        for sub in list(self._subscriptions):
            await sub.close()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Publish and wait for the broker's acknowledgement (all in-sync replicas).

        Raises
        ------
        ConnectionError
            The broker did not acknowledge. Retriable.
        """
        if self._producer is None:
            raise BrokerUnavailableError("the Kafka bus is not started")
        try:
            await self._producer.send_and_wait(topic, value=value, key=key.encode())
        except KafkaError as exc:
            raise BrokerUnavailableError(f"publish to {topic} failed: {exc}") from exc

    def subscribe(self, topics: Sequence[str], group: str, *, start: StartFrom = "earliest") -> KafkaSubscription:
        """A consumer in ``group`` for ``topics``; it joins the group on first use (or ``async with``)."""
        sub = KafkaSubscription(self, tuple(topics), group, start)
        self._subscriptions.append(sub)
        return sub

    async def lag(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """Per topic, the partitions' end offsets minus ``group``'s committed offsets (minus the first kept
        offset, where the group never committed or retention passed its position).

        Raises
        ------
        ConnectionError
            The broker did not answer. Retriable.
        """
        try:
            return await self._lag(group, topics)
        except KafkaError as exc:
            raise ConnectionError(f"the consumer lag of {group} is unknown: {exc}") from exc

    async def _lag(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        async with self._admin() as admin:
            committed = await admin.list_consumer_group_offsets(group)
        async with self._reader() as consumer:
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends = await consumer.end_offsets(tps) if tps else {}
            firsts = await consumer.beginning_offsets(tps) if tps else {}
        out = dict.fromkeys(topics, 0)
        for tp in tps:
            mark = committed.get(tp)
            done = max(mark.offset if mark is not None and mark.offset >= 0 else 0, firsts[tp])
            out[tp.topic] += max(ends[tp] - done, 0)
        return out

    def _forget(self, sub: KafkaSubscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, sub: KafkaSubscription) -> None:
        self.sub = sub

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.sub.marks.pop(tp, None)
        self.sub.buffer = [r for r in self.sub.buffer if TopicPartition(r.topic, r.partition) not in revoked]

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.sub.joined = True
        log.debug("group %s: assigned %s", self.sub.group, sorted(str(tp) for tp in assigned))


class KafkaSubscription:
    """One consumer-group member on Kafka, yielding messages one at a time."""

    def __init__(self, bus: KafkaBus, topics: tuple[str, ...], group: str, start: StartFrom) -> None:
        self.bus = bus
        self.topics = topics
        self.group = group
        self.start = start
        self.marks: dict[TopicPartition, Watermark] = {}
        self.buffer: list[ConsumerRecord[bytes, bytes]] = []
        self.joined = False
        self._consumer: AIOKafkaConsumer | None = None
        self._closed = False
        self._generation = bus.generation

    @property
    def assigned(self) -> bool:
        """Whether the consumer has joined its group and holds an assignment."""
        return self.joined and not self._closed

    async def open(self) -> None:
        """Start the consumer and subscribe (idempotent)."""
        if self._consumer is not None or self._closed:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bus.bootstrap, client_id=self.bus.client_id, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset=self.start,
            session_timeout_ms=self.bus.session_timeout_ms, heartbeat_interval_ms=self.bus.heartbeat_ms,
            max_poll_interval_ms=self.bus.max_poll_interval_ms, fetch_max_wait_ms=self.bus.fetch_max_wait_ms,
            **self.bus.security.client_options())
        await consumer.start()
        consumer.subscribe(list(self.topics), listener=_Listener(self))
        self._consumer = consumer

    def __aiter__(self) -> KafkaSubscription:
        return self

    async def _rejoin(self) -> None:
        """The broker lost the topics (and the group's offsets): a fresh consumer joins the re-created ones from
        their start; the old one's deliveries are forgotten (their commits are refused and logged)."""
        log.warning("group %s: rejoining the re-created topics", self.group)
        self._generation = self.bus.generation
        consumer, self._consumer = self._consumer, None
        self.marks.clear()
        self.buffer = []
        self.joined = False
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
        await self.open()

    async def __anext__(self) -> Message:
        await self.open()
        while not self._closed and self._consumer is not None:
            if self._generation != self.bus.generation:
                await self._rejoin()
                continue
            if not self.buffer:
                try:
                    batch = await self._consumer.getmany(timeout_ms=500, max_records=1)
                except KafkaError as exc:  # a broker going away or coming back: the client reconnects
                    log.warning("group %s: fetch failed (%s); trying again", self.group, exc)
                    await asyncio.sleep(1.0)
                    continue
                self.buffer = [r for records in batch.values() for r in records]
                continue
            record = self.buffer.pop(0)
            tp = TopicPartition(record.topic, record.partition)
            mark = self.marks.setdefault(tp, Watermark(record.offset))
            mark.delivered(record.offset)
            key = record.key.decode(errors="replace") if record.key is not None else ""
            return Message(topic=record.topic, partition=record.partition, offset=record.offset, key=key,
                           value=record.value or b"", _on_commit=self._commit)
        raise StopAsyncIteration

    async def _commit(self, message: Message) -> None:
        tp = TopicPartition(message.topic, message.partition)
        mark = self.marks.get(tp)
        if mark is None or self._consumer is None:
            log.info("not committing %s[%d]@%d: the partition moved to another consumer (it will be redone)",
                     message.topic, message.partition, message.offset)
            return
        advanced = mark.done(message.offset)
        if advanced is None:
            return
        try:
            await self._consumer.commit({tp: advanced})
        except KafkaError as exc:
            log.warning("commit of %s[%d] up to %d refused (%s): the work will be redone by the new owner",
                        message.topic, message.partition, advanced, exc)

    async def close(self) -> None:
        """Leave the group (idempotent); uncommitted messages go to the other members."""
        if self._closed:
            return
        self._closed = True
        self.bus._forget(self)
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


async def read_topic(bootstrap: str, topic: str, *, client_id: str = "streamcal-reader",
                     security: KafkaSecurity | None = None) -> list[Record]:
    """Everything currently in a topic, from the beginning, without joining a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False,
                                group_id=None, **(security or KafkaSecurity()).client_options())
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            for records in batch.values():
                out.extend(Record(r.topic, r.partition, r.offset, (r.key or b"").decode(errors="replace"),
                                  r.value or b"") for r in records)
        return out
    finally:
        await _stop_quietly(consumer)


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer; aiokafka's stop can surface the cancellation of its own internal task (a consumer
    stopped right after it started), which is not ours to propagate unless this task is being cancelled."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("the reader's consumer stopped with an internal cancellation")
