"""What ``streamcal run`` says: progress lines while it runs and the summary table at the end.

The :class:`Observer` is an ordinary consumer (its own group, on every topic) that tallies the events it
sees, so the summary is the same on both buses: exposures by route, products per pipeline, associations
released, dead letters, work waiting in topics that no worker of this run consumes ("waiting: no worker
for calwebb_spec3") or for a kind of exposure its pipeline does not take yet ("waiting: calwebb_spec2 does not
take MIR_MRS yet"), and timings (pipeline seconds, file landed → stage-1 product latency).
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from services.bus import Bus, Message
from services.codec import decode
from services.consumer import Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.events import (
    AssociationReady,
    DeadLetter,
    ExposureArrived,
    ProductsWritten,
    WorkItem,
    alias_of,
    is_pending,
)
from services.metrics import Metrics
from streamcal.errors import MalformedEventError

__all__ = ["Observer", "Tally", "render_summary"]


@dataclass(slots=True)
class Tally:
    """Everything the summary reports, deduplicated by identity (redeliveries are not double-counted)."""

    arrived: dict[str, datetime] = field(default_factory=dict)
    routes: dict[str, tuple[str, bool, tuple[str, ...]]] = field(default_factory=dict)
    work: dict[str, set[str]] = field(default_factory=dict)
    pending: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    products: dict[tuple[str, str], ProductsWritten] = field(default_factory=dict)
    released: dict[str, AssociationReady] = field(default_factory=dict)
    release_events: int = 0
    deadletters: dict[tuple[str, str], DeadLetter] = field(default_factory=dict)
    malformed: int = 0
    since: datetime | None = None

    def add(self, message: Message) -> None:
        """Count one message of any topic."""
        try:
            event = decode(message.value)
        except MalformedEventError:
            self.malformed += 1
            return
        if self.since is not None and event.created < self.since:
            return  # history from earlier runs (a Kafka topic keeps it)
        if isinstance(event, ExposureArrived):
            self.arrived.setdefault(str(event.path), event.created)
        elif isinstance(event, WorkItem):
            self._work(event, message.topic)
        elif isinstance(event, ProductsWritten):
            self.products[(event.pipeline, event.exposure_id)] = event
        elif isinstance(event, AssociationReady):
            self.released[event.association_id] = event
            self.release_events += 1
        elif isinstance(event, DeadLetter):
            self.deadletters[(event.key, event.reason)] = event

    def _work(self, item: WorkItem, topic: str) -> None:
        alias = alias_of(topic) or item.pipeline
        if is_pending(topic):
            route = item.spec.get("route")
            exp_type = str(route.get("exp_type")) if isinstance(route, dict) else "?"
            kind = f"{exp_type} (time series)" if isinstance(route, dict) and route.get("is_tso") else exp_type
            self.pending.setdefault((alias, kind), set()).add(item.exposure_id)
            return
        self.work.setdefault(alias, set()).add(item.exposure_id)
        route = item.spec.get("route")
        if isinstance(route, dict) and item.pipeline == route.get("stage1"):
            stages = tuple(str(s) for s in (route.get("stage1"), route.get("stage2"), route.get("stage3")) if s)
            self.routes[item.exposure_id] = (str(route.get("exp_type")), bool(route.get("is_tso")), stages)

    def waiting(self, served: Iterable[str]) -> dict[str, int]:
        """Work items (by alias) in topics no worker of this run consumes, and work for a pipeline that does not
        take that kind of exposure yet (its pending topic)."""
        out = self.no_worker(served)
        for (alias, _), ids in sorted(self.pending.items()):  # declared, but not for this kind of exposure yet
            out[alias] = out.get(alias, 0) + len(ids)
        return dict(sorted(out.items()))

    def no_worker(self, served: Iterable[str]) -> dict[str, int]:
        """The part of :meth:`waiting` in topics no worker of this run consumes."""
        served = set(served)
        return {alias: len(ids) for alias, ids in sorted(self.work.items()) if alias not in served}

    def latencies(self) -> list[float]:
        """Seconds from a raw file landing to its stage-1 products (runs that did the work only)."""
        out = []
        for written in self.products.values():
            if written.landed_at is not None and not written.skipped and written.input_path.name.endswith(
                    "_uncal.fits"):
                out.append((written.created - written.landed_at).total_seconds())
        return out


class Observer:
    """A consumer on every topic that feeds a :class:`Tally` (the run's summary)."""

    name = "observer"

    def __init__(self, *, bus: Bus, metrics: Metrics, deadletters: DeadLetters, topics: Sequence[str],
                 since: datetime | None = None) -> None:
        self.tally = Tally(since=since)
        self.consumer = Consumer(name=self.name, bus=bus, topics=topics,
                                 group=f"streamcal.observer.{uuid.uuid4().hex[:8]}", handler=self.handle,
                                 metrics=metrics, deadletters=deadletters, policy=RetryPolicy(max_attempts=1))

    @property
    def group(self) -> str:
        """The observer's consumer group (excluded from the idle check)."""
        return self.consumer.group

    @property
    def ready(self) -> bool:
        """Subscribed."""
        return self.consumer.ready

    async def run(self, stop: asyncio.Event) -> None:
        """Tally until stopped."""
        await self.consumer.run(stop)

    async def handle(self, message: Message) -> None:
        """Tally one message."""
        self.tally.add(message)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str], out: TextIO, indent: str = "  ") -> None:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
        if n == 0:
            print(indent + "  ".join("-" * w for w in widths), file=out)


def progress_line(tally: Tally, elapsed: float, inflight: int, served: Iterable[str]) -> str:
    """One progress line."""
    waiting = sum(tally.waiting(served).values())
    return (f"[{elapsed:7.1f} s] arrived {len(tally.arrived)} · routed {len(tally.routes)} · "
            f"pipeline runs {len(tally.products)} · associations {len(tally.released)} · "
            f"dead letters {len(tally.deadletters)} · in flight {inflight} · waiting {waiting}")


#: Most per-exposure rows the summary lists (a long run lists the slowest).
_MAX_EXPOSURE_ROWS = 40


def _per_exposure(tally: Tally, out: TextIO) -> None:
    """One row per pipeline run: exposure, pipeline, seconds, and where its products are."""
    runs = sorted(tally.products.values(), key=lambda w: (w.exposure_id, w.pipeline))
    if not runs:
        return
    shown = runs if len(runs) <= _MAX_EXPOSURE_ROWS else sorted(runs, key=lambda w: -w.seconds)[:_MAX_EXPOSURE_ROWS]
    folders = {str(p.parent) for w in shown for p in w.products}
    title = "per exposure"
    if len(shown) < len(runs):
        title += f" (the {len(shown)} slowest of {len(runs)})"
    if len(folders) == 1:
        title += f"; products in {folders.pop()}"
    print("", title, sep="\n", file=out)
    rows = [(w.exposure_id, w.pipeline, "resumed" if w.skipped else f"{w.seconds:.2f}",
             ", ".join(sorted(p.name.removeprefix(w.exposure_id + "_") for p in w.products))) for w in shown]
    _table(rows, ("exposure", "pipeline", "s", "products"), out)


def render_summary(tally: Tally, *, elapsed: float, served: Iterable[str], out: TextIO) -> None:
    """The end-of-run summary (see the module docstring)."""
    served = sorted(set(served))
    print(f"\nstreamcal run: {len(tally.arrived)} file(s) arrived, {len(tally.routes)} exposure(s) routed "
          f"in {elapsed:.1f} s\n", file=out)
    print("exposures by route", file=out)
    by_route = Counter(tally.routes.values())
    rows = [(exp, "T" if tso else "-", *(list(stages) + ["-"] * (3 - len(stages))), n)
            for (exp, tso, stages), n in sorted(by_route.items())]
    _table(rows, ("EXP_TYPE", "TSO", "stage 1", "stage 2", "stage 3", "exposures"), out)
    print("\nproducts", file=out)
    runs: dict[str, list[ProductsWritten]] = {}
    for written in tally.products.values():
        runs.setdefault(written.pipeline, []).append(written)
    rows = []
    for alias, items in sorted(runs.items()):
        secs = [w.seconds for w in items if not w.skipped]
        rows.append((alias, len(items), sum(len(w.products) for w in items), sum(w.skipped for w in items),
                     f"{statistics.fmean(secs):.2f}" if secs else "-", f"{max(secs):.2f}" if secs else "-"))
    _table(rows, ("pipeline", "runs", "products", "resumed", "mean s", "max s"), out)
    _per_exposure(tally, out)
    partial = sum(r.partial for r in tally.released.values())
    print(f"\nassociations released to stage 3: {len(tally.released)}"
          f"{f' ({partial} partial)' if partial else ''}", file=out)
    for ready in sorted(tally.released.values(), key=lambda r: r.association_id):
        print(f"  {ready.pipeline}  {ready.asn_path.name}  ({len(ready.members)} members)", file=out)
    print(f"\ndead letters: {len(tally.deadletters)}", file=out)
    if tally.deadletters:
        rows = [(d.reason, d.path.rsplit("/", 1)[-1] if d.path else d.key, d.service, d.error[:100])
                for d in sorted(tally.deadletters.values(), key=lambda d: (d.reason, d.key))]
        _table(rows, ("reason", "file / key", "service", "error"), out)
    waiting = tally.no_worker(served)
    pending = {key: len(ids) for key, ids in sorted(tally.pending.items())}
    print(f"\nwaiting work: {sum(tally.waiting(served).values())}", file=out)
    for alias, n in waiting.items():
        print(f"  waiting: no worker for {alias} ({n} work item{'s' if n != 1 else ''})", file=out)
    for (alias, kind), n in pending.items():
        print(f"  waiting: {alias} does not take {kind} yet ({n} work item{'s' if n != 1 else ''})", file=out)
    latencies = tally.latencies()
    print("\ntimings", file=out)
    if latencies:
        print(f"  file landed → stage-1 products: median {statistics.median(latencies):.2f} s, "
              f"max {max(latencies):.2f} s over {len(latencies)} exposure(s)", file=out)
    else:
        print("  no stage-1 run in this session", file=out)
