"""The consume loop every bus-driven service shares: fetch, handle, retry, dead-letter, commit, count.

A :class:`Consumer` runs one handler over one subscription with bounded concurrency. For each message:

1. the handler runs (it decodes the event, does the work and publishes the outcome events, awaiting their
   acknowledgement); :func:`services.outcomes.outcome_of` classifies how it ended;
2. RETRY → jittered exponential backoff (bounded by ``max_attempts``), then a dead letter — except a full or
   failing disk or a broker that is away (reasons ``storage``, ``broker``: ``outcomes.UNBOUNDED_RETRY``),
   retried for as long as it lasts: work waits for them instead of becoming dead letters nobody can write;
   DEAD_LETTER → a dead letter with the reason and the original bytes;
3. the message is committed only after that (the dead letter is acknowledged too); a stop or a cancel in
   the middle leaves it uncommitted, so it is redelivered.

On stop the loop fetches no more, lets in-flight messages finish, and closes the subscription (the
runtime cancels what is still running after the grace period).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.bus import Bus, Message, StartFrom, Subscription
from services.deadletters import DeadLetters, make_dead_letter
from services.metrics import Metrics
from services.outcomes import UNBOUNDED_RETRY, Classified, Outcome, outcome_of
from services.runtime import log_context

__all__ = ["Activity", "Consumer", "Handler", "RetryPolicy", "next_or_stop"]

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[None]]


@dataclass(slots=True)
class Activity:
    """When something last happened and how much is in flight (``streamcal run --until-idle``)."""

    last: float = field(default_factory=time.monotonic)
    busy: int = 0

    def touch(self) -> None:
        """Something happened now."""
        self.last = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last activity; 0 while anything is in flight."""
        return 0.0 if self.busy else time.monotonic() - self.last


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff for retriable errors.

    Attributes
    ----------
    max_attempts : int
        Tries in total before the dead letter.
    base_s, max_s : float
        Delay before retry ``n`` (1-based) is ``min(max_s, base_s * 2**(n-1))`` times a jitter in [0.75, 1.25].
    """

    max_attempts: int = 3
    base_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        jitter = (rng or random).uniform(0.75, 1.25)
        return min(self.max_s, self.base_s * 2 ** (attempt - 1)) * jitter


async def next_or_stop(sub: Subscription, stop: asyncio.Event) -> Message | None:
    """The next message, or None once ``stop`` is set (or the subscription ends)."""
    fetch = asyncio.ensure_future(sub.__anext__())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if fetch.done():
        if fetch.cancelled() or isinstance(fetch.exception(), StopAsyncIteration):
            return None
        return None if stop.is_set() else fetch.result()
    fetch.cancel()
    await asyncio.gather(fetch, return_exceptions=True)
    return None


class Consumer:
    """Runs a handler over a subscription (see the module docstring).

    Parameters
    ----------
    name : str
        The service name (metric label, dead-letter ``service``).
    bus : Bus
    topics : sequence of str
    group : str
        The consumer group.
    handler : Handler
    metrics : Metrics
    deadletters : DeadLetters
    policy : RetryPolicy
    concurrency : int
        Messages handled at once.
    activity : Activity, optional
    start : {"earliest", "latest"}
    """

    def __init__(self, *, name: str, bus: Bus, topics: Sequence[str], group: str, handler: Handler,
                 metrics: Metrics, deadletters: DeadLetters, policy: RetryPolicy, concurrency: int = 1,
                 activity: Activity | None = None, start: StartFrom = "earliest") -> None:
        self.name = name
        self.bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.handler = handler
        self.metrics = metrics
        self.deadletters = deadletters
        self.policy = policy
        self.concurrency = concurrency
        self.activity = activity or Activity()
        self.start = start
        self._sub: Subscription | None = None
        self._attempts_started: dict[int, float] = {}  # id(message) → when its current attempt began
        metrics.declare(name, self.topics)

    def longest_attempt(self) -> float:
        """Seconds the oldest handler attempt now running has been running (0 when none is): liveness. A
        retry starts a new attempt, so a message waiting out a full disk is not stalled; one handler call that
        never returns is."""
        if not self._attempts_started:
            return 0.0
        return time.monotonic() - min(self._attempts_started.values())

    @property
    def ready(self) -> bool:
        """Subscribed and assigned."""
        return self._sub is not None and self._sub.assigned

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; then finish in-flight messages and leave the group."""
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        async with self.bus.subscribe(self.topics, self.group, start=self.start) as sub:
            self._sub = sub
            try:
                while not stop.is_set():
                    await slots.acquire()
                    message = await next_or_stop(sub, stop)
                    if message is None:
                        slots.release()
                        break
                    task = asyncio.create_task(self._handle(message, stop))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    task.add_done_callback(lambda _: slots.release())
                if tasks:
                    log.info("%s: draining %d message(s) in flight", self.name, len(tasks))
                    await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                self._sub = None

    async def _handle(self, message: Message, stop: asyncio.Event) -> None:
        gauge = self.metrics.inflight.labels(service=self.name)
        gauge.inc()
        self.activity.busy += 1
        try:
            with log_context(service=self.name, topic=message.topic, key=message.key):
                result, attempts = await self._attempts(message, stop)
                if result is None:
                    return  # stopping during a backoff: leave it uncommitted, it will be redelivered
                if result.outcome in (Outcome.RETRY, Outcome.DEAD_LETTER):
                    if not await self._dead_letter(message, result, attempts, stop):
                        return  # stopping and the dead letter is not acknowledged: redelivered later
                    self.metrics.events.labels(service=self.name, topic=message.topic,
                                               outcome=Outcome.DEAD_LETTER.value).inc()
                else:
                    self.metrics.events.labels(service=self.name, topic=message.topic,
                                               outcome=result.outcome.value).inc()
                    self.metrics.last_success.labels(service=self.name).set(time.time())
                await message.commit()
        finally:
            gauge.dec()
            self.activity.busy -= 1
            self.activity.touch()

    async def _attempts(self, message: Message, stop: asyncio.Event) -> tuple[Classified | None, int]:
        attempt = 0
        while True:
            attempt += 1
            self._attempts_started[id(message)] = time.monotonic()
            try:
                result, _ = await outcome_of(lambda: self.handler(message))
            finally:
                self._attempts_started.pop(id(message), None)
            unbounded = result.reason in UNBOUNDED_RETRY  # a full disk or a broker away: wait, never give up
            if result.outcome is not Outcome.RETRY or (attempt >= self.policy.max_attempts and not unbounded):
                return result, attempt
            self.metrics.events.labels(service=self.name, topic=message.topic, outcome=Outcome.RETRY.value).inc()
            delay = self.policy.delay(attempt)
            if unbounded:
                log.error("attempt %d failed on %s (%s); retrying in %.2f s until it is back", attempt,
                          result.reason, result.error, delay)
            else:
                log.warning("attempt %d of %d failed (%s); retrying in %.2f s", attempt, self.policy.max_attempts,
                            result.error, delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return None, attempt
            except TimeoutError:
                continue

    async def _dead_letter(self, message: Message, result: Classified, attempts: int,
                           stop: asyncio.Event) -> bool:
        """Send the dead letter, retrying until it is acknowledged (it must not be lost); False if stopping."""
        reason = (result.reason.value if result.reason is not None else "internal")
        letter = make_dead_letter(reason=reason, error=result.error, service=self.name, topic=message.topic,
                                  key=message.key, raw=message.value, attempts=attempts,
                                  partition=message.partition, offset=message.offset)
        tries = 0
        while True:
            tries += 1
            sent, _ = await outcome_of(lambda: self.deadletters.send(letter))
            if sent.outcome is Outcome.SUCCESS:
                return True
            log.error("dead letter not acknowledged (%s); trying again", sent.error)
            if stop.is_set() and tries >= self.policy.max_attempts:
                return False
            await asyncio.sleep(self.policy.delay(min(tries, 6)))
