"""Sampling the consumer-lag and waiting-work gauges (services/metrics.py), off the message path.

Every ``interval_s`` the sampler asks the bus how far each consumer group of the process is behind
(``streamcal_consumer_lag{group, topic}``: Kafka's committed offsets against the end offsets, the embedded bus's
backlog) and, in a process running the tracker, how much work is parked (``streamcal_waiting_work{kind}``: work
items in the ``streamcal.pending.*`` topics, the tracker's catalogue waits and open associations). A broker that
does not answer leaves the last values and is said once in the log; the message path never waits for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.bus import Bus
from services.metrics import Metrics

__all__ = ["LagSampler", "Watched"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Watched:
    """A consumer group of this process and its topics."""

    group: str
    topics: tuple[str, ...]


@dataclass(slots=True, kw_only=True)
class LagSampler:
    """A :class:`~services.runtime.Service` that samples the lag and waiting-work gauges every ``interval_s``.

    Parameters
    ----------
    bus : Bus
    metrics : Metrics
    groups : sequence of Watched
        The consumer groups of the process's services.
    pending_topics : sequence of str
        The ``streamcal.pending.*`` topics (empty in a process without the tracker).
    held : callable, optional
        ``() -> {kind: count}`` of the work the tracker holds (catalog_waits, associations_open).
    interval_s : float
    """

    bus: Bus
    metrics: Metrics
    groups: Sequence[Watched]
    pending_topics: Sequence[str] = ()
    held: Callable[[], dict[str, int]] | None = None
    interval_s: float = 15.0
    name: str = "lag"
    _failing: bool = field(default=False, init=False)

    @property
    def ready(self) -> bool:
        """Always: the gauges are a view, never a reason to take the pod out of service."""
        return True

    def longest_attempt(self) -> float:
        """0: a slow broker shows in the logs and the gauges' age, not in liveness."""
        return 0.0

    async def sample(self) -> None:
        """Set the gauges once (the last values stay when the broker does not answer)."""
        if self.held is not None:
            for kind, count in self.held().items():
                self.metrics.waiting_work.labels(kind=kind).set(count)
        try:
            for watched in self.groups:
                for topic, lag in (await self.bus.lag(watched.group, watched.topics)).items():
                    self.metrics.consumer_lag.labels(group=watched.group, topic=topic).set(lag)
            if self.pending_topics:
                # nobody consumes the pending topics: every message kept there is parked work
                parked = await self.bus.lag("streamcal.pending", self.pending_topics)
                self.metrics.waiting_work.labels(kind="pending").set(sum(parked.values()))
        except (ConnectionError, OSError, TimeoutError) as exc:
            if not self._failing:
                log.warning("consumer lag not sampled (%s): the gauges keep their last values", exc)
            self._failing = True
            return
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        """Sample every ``interval_s`` until ``stop``."""
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
