"""The embedded bus: Kafka's delivery model in one process, with no broker.

Topics have partitions chosen by a stable hash of the key; consumer groups share a topic's partitions
among their members; each group keeps a committed offset per partition. When a member leaves or dies its
partitions move to the others, which resume from the committed offset, so work that was delivered but not
committed is delivered again. :class:`Faults` injects failures for tests. Nothing survives the process:
after a restart the watcher's rescan and the tracker's rebuild recover the work (ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from services.bus.base import Message, StartFrom, Watermark

__all__ = ["Faults", "InMemoryBus", "MemorySubscription", "Record", "partition_for"]

log = logging.getLogger(__name__)

_TP = tuple[str, int]


def partition_for(key: str, partitions: int) -> int:
    """A stable partition for a key (crc32, so the same on every run)."""
    return zlib.crc32(key.encode()) % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """A published message as stored in a partition log."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes


@dataclass(slots=True)
class Faults:
    """Failures to inject: the next ``publish_failures[topic]`` publishes to ``topic`` raise ConnectionError."""

    publish_failures: dict[str, int] = field(default_factory=dict)

    def check_publish(self, topic: str) -> None:
        """Raise if a failure is scheduled for this topic."""
        left = self.publish_failures.get(topic, 0)
        if left > 0:
            self.publish_failures[topic] = left - 1
            raise ConnectionError(f"injected publish failure on {topic}")


@dataclass(slots=True)
class _Group:
    name: str
    start: StartFrom
    topics: set[str] = field(default_factory=set)
    members: list[MemorySubscription] = field(default_factory=list)
    committed: dict[_TP, int] = field(default_factory=dict)


class InMemoryBus:
    """An in-process bus with keyed partitions, consumer groups and commits.

    Parameters
    ----------
    partitions : int
        Partitions of every topic created implicitly.
    faults : Faults, optional
        Injected failures (tests).
    """

    def __init__(self, *, partitions: int = 4, faults: Faults | None = None) -> None:
        self.partitions = partitions
        self.faults = faults or Faults()
        self._logs: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = {}
        self._next_member = 0

    async def start(self) -> None:
        """Nothing to connect to."""

    @property
    def connected(self) -> bool:
        """Always: there is no broker."""
        return True

    @property
    def generation(self) -> int:
        """Always 0: the embedded bus lives and dies with the process."""
        return 0

    async def stop(self) -> None:
        """Close every subscription."""
        for group in list(self._groups.values()):
            for member in list(group.members):
                await member.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def create_topics(self, topics: Sequence[str], partitions: int | None = None) -> None:
        """Create topics up front (existing ones are kept as they are)."""
        for topic in topics:
            self._topic(topic, partitions)

    def _topic(self, topic: str, partitions: int | None = None) -> list[list[Record]]:
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(partitions or self.partitions)]
        return self._logs[topic]

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Append to the key's partition and wake the consumers.

        Raises
        ------
        ConnectionError
            Only when injected by :class:`Faults`. Retriable.
        """
        self.faults.check_publish(topic)
        logs = self._topic(topic)
        partition = partition_for(key, len(logs))
        part = logs[partition]
        part.append(Record(topic, partition, len(part), key, value))
        for group in self._groups.values():
            if topic in group.topics:
                for member in group.members:
                    member.wake.set()
        await asyncio.sleep(0)

    def subscribe(self, topics: Sequence[str], group: str, *, start: StartFrom = "earliest") -> MemorySubscription:
        """Join ``group`` (created on first use, starting at ``start``) for ``topics``."""
        state = self._groups.get(group)
        if state is None:
            state = self._groups[group] = _Group(group, start)
        for topic in topics:
            logs = self._topic(topic)
            if start == "latest" and topic not in state.topics:
                for p, part in enumerate(logs):
                    state.committed.setdefault((topic, p), len(part))
        state.topics.update(topics)
        self._next_member += 1
        member = MemorySubscription(self, state, tuple(topics), self._next_member)
        state.members.append(member)
        self._rebalance(state)
        return member

    def _rebalance(self, group: _Group) -> None:
        tps = [(t, p) for t in sorted(group.topics) for p in range(len(self._logs[t]))]
        members = sorted(group.members, key=lambda m: m.member_id)
        wanted: dict[int, set[_TP]] = {m.member_id: set() for m in members}
        for i, tp in enumerate(tps):
            eligible = [m for m in members if tp[0] in m.topics]
            if eligible:
                wanted[eligible[i % len(eligible)].member_id].add(tp)
        for member in members:
            member.reassign(wanted[member.member_id])

    def _leave(self, member: MemorySubscription) -> None:
        group = member.group
        if member in group.members:
            group.members.remove(member)
            self._rebalance(group)

    # -- introspection (tests and the run summary) -------------------------------------------------
    def topics(self) -> list[str]:
        """Every topic that exists."""
        return sorted(self._logs)

    def records(self, topic: str) -> list[Record]:
        """Everything published to a topic, partition by partition."""
        return [r for part in self._logs.get(topic, []) for r in part]

    def backlog(self, group: str) -> int:
        """Messages of the group's topics not yet committed by the group (0 for an unknown group)."""
        state = self._groups.get(group)
        if state is None:
            return 0
        return sum(len(part) - state.committed.get((t, p), 0)
                   for t in state.topics for p, part in enumerate(self._logs[t]))

    async def lag(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """Per topic, the messages ``group`` has not committed (all of them for an unknown group)."""
        state = self._groups.get(group)
        committed = state.committed if state is not None else {}
        return {t: sum(len(part) - committed.get((t, p), 0) for p, part in enumerate(self._logs.get(t, [])))
                for t in topics}

    def groups(self) -> list[str]:
        """Consumer groups that ever subscribed."""
        return sorted(self._groups)

    def members(self, group: str) -> int:
        """How many members the group has now."""
        state = self._groups.get(group)
        return len(state.members) if state else 0


class MemorySubscription:
    """One member of a consumer group on an :class:`InMemoryBus`."""

    def __init__(self, bus: InMemoryBus, group: _Group, topics: tuple[str, ...], member_id: int) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.member_id = member_id
        self.wake = asyncio.Event()
        self._marks: dict[_TP, Watermark] = {}
        self._positions: dict[_TP, int] = {}
        self._closed = False
        self._turn = 0

    @property
    def assigned(self) -> bool:
        """Members of the embedded bus join at once."""
        return not self._closed

    def reassign(self, tps: set[_TP]) -> None:
        """Take a new assignment: kept partitions continue, gained ones resume from the committed offset."""
        for tp in set(self._positions) - tps:
            del self._positions[tp]
            del self._marks[tp]
        for tp in tps - set(self._positions):
            start = self.group.committed.get(tp, 0)
            self._positions[tp] = start
            self._marks[tp] = Watermark(start)
        self.wake.set()

    def __aiter__(self) -> MemorySubscription:
        return self

    async def __anext__(self) -> Message:
        while not self._closed:
            self.wake.clear()
            message = self._next_ready()
            if message is not None:
                return message
            await self.wake.wait()
        raise StopAsyncIteration

    def _next_ready(self) -> Message | None:
        tps = sorted(self._positions)
        for i in range(len(tps)):
            tp = tps[(self._turn + i) % len(tps)]
            part = self.bus._logs[tp[0]][tp[1]]
            position = self._positions[tp]
            if position < len(part):
                self._turn = (self._turn + i + 1) % len(tps)
                self._positions[tp] = position + 1
                self._marks[tp].delivered(position)
                record = part[position]
                return Message(topic=record.topic, partition=record.partition, offset=record.offset,
                               key=record.key, value=record.value, _on_commit=self._commit)
        return None

    async def _commit(self, message: Message) -> None:
        tp = (message.topic, message.partition)
        mark = self._marks.get(tp)
        if mark is None:
            log.debug("commit of %s[%d]@%d ignored: partition no longer assigned", *tp, message.offset)
            return
        advanced = mark.done(message.offset)
        if advanced is not None:
            self.group.committed[tp] = max(self.group.committed.get(tp, 0), advanced)

    async def close(self) -> None:
        """Leave the group (what a dead consumer does too: nothing uncommitted is kept)."""
        if not self._closed:
            self._closed = True
            self.bus._leave(self)
            self.wake.set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
