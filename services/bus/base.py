"""The bus contract shared by the embedded bus and Kafka.

A :class:`Bus` publishes ``(topic, key, value)`` and returns once the message is acknowledged, and hands out
:class:`Subscription` s: a consumer-group member that yields :class:`Message` s. A message is done when its
handler calls :meth:`Message.commit` (after the outcome event or dead letter was acknowledged). Several
messages of a partition may be in flight at once; the group's committed offset only ever advances over a
contiguous run of done messages (:class:`Watermark`), so a crash redelivers exactly the unfinished ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self

__all__ = ["BrokerUnavailableError", "Bus", "Message", "StartFrom", "Subscription", "Watermark"]

StartFrom = Literal["earliest", "latest"]


class BrokerUnavailableError(ConnectionError):
    """The broker did not take a message (it is away, restarting, or lost the topic). Retried for as long as it
    lasts: the work is not at fault, and its dead letter could not be published either."""


@dataclass(eq=False, slots=True, kw_only=True)
class Message:
    """One delivered message; :meth:`commit` marks it done (idempotent)."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    _on_commit: Callable[[Message], Awaitable[None]] = field(repr=False)
    _committed: bool = field(default=False, repr=False)

    async def commit(self) -> None:
        """Mark this message done; the group's offset advances once everything before it is done too."""
        if not self._committed:
            self._committed = True
            await self._on_commit(self)


class Subscription(Protocol):
    """A member of a consumer group: an async iterator of messages and an async context manager."""

    @property
    def assigned(self) -> bool:
        """Whether the member has joined the group (ready to receive)."""
        ...

    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def __anext__(self) -> Message: ...

    async def close(self) -> None:
        """Leave the group; uncommitted messages go to the remaining members."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None: ...


class Bus(Protocol):
    """Publish/subscribe with consumer groups, keyed partitions and explicit commits."""

    async def start(self) -> None:
        """Connect and create the topics (idempotent)."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the broker answered lately (readiness; the embedded bus always is)."""
        ...

    @property
    def generation(self) -> int:
        """How many times the broker was found to have lost its topics (they are re-created, and what was in
        them is gone): a service that keeps state derived from the bus re-derives it from storage when this
        changes (the watcher re-emits unfinished files, the tracker rebuilds)."""
        ...

    async def stop(self) -> None:
        """Flush and disconnect (idempotent)."""
        ...

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        """Publish and wait for the acknowledgement.

        Raises
        ------
        ConnectionError, OSError
            The message was not acknowledged. Retriable.
        """
        ...

    def subscribe(self, topics: Sequence[str], group: str, *, start: StartFrom = "earliest") -> Subscription:
        """Join ``group`` for ``topics``; a new group starts at ``start``."""
        ...

    async def lag(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """Per topic, the messages ``group`` has not committed (all that are kept, for a group that never
        committed). A metadata query: call it off the message path.

        Raises
        ------
        ConnectionError, OSError
            The broker did not answer. Retriable.
        """
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None: ...


@dataclass(slots=True)
class Watermark:
    """Per-partition bookkeeping of delivered and done offsets; yields the next offset safe to commit.

    ``delivered`` records offsets in delivery order; :meth:`done` returns the new commit position (the
    offset after the longest done prefix) when it advanced, else None.
    """

    next_offset: int
    _pending: list[int] = field(default_factory=list)
    _done: set[int] = field(default_factory=set)

    def delivered(self, offset: int) -> None:
        """Record a delivered offset (offsets arrive in increasing order)."""
        self._pending.append(offset)

    def done(self, offset: int) -> int | None:
        """Record a finished offset; return the new commit position if it advanced."""
        if offset not in self._pending:
            return None
        self._done.add(offset)
        advanced = None
        while self._pending and self._pending[0] in self._done:
            first = self._pending.pop(0)
            self._done.discard(first)
            self.next_offset = first + 1
            advanced = self.next_offset
        return advanced

    @property
    def in_flight(self) -> int:
        """Delivered and not yet done."""
        return len(self._pending)
