"""What ``streamcal run`` says: progress lines while it runs and the summary table at the end.

The :class:`Observer` is an ordinary consumer (its own group, on every topic) that tallies the events it
sees, so the summary is the same on both buses: exposures by route, products per pipeline, associations
released, dead letters, work waiting in topics that no worker of this run consumes ("waiting: no worker
for calwebb_spec3") or for a kind of exposure its pipeline does not take yet ("waiting: calwebb_spec2 does not
take MIR_MRS yet"), and timings (pipeline seconds; latency from when the run saw a raw file to its stage-1 products).

The summary opens with every file the run saw: arrived (and whether each was processed, dead-lettered,
is waiting or is unfinished), skipped as finished at the startup scan (and why), not taken in yet; an
interrupted run ends with what it left unfinished.
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from services.bus import Bus, Message
from services.codec import decode
from services.consumer import Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.events import (
    MEMBER_DONE,
    AssociationDeclared,
    AssociationReady,
    DeadLetter,
    ExposureArrived,
    ProductsWritten,
    WorkItem,
    alias_of,
    is_pending,
)
from services.ingest import eligible, file_id, file_kind, finished, product_index
from services.metrics import Metrics
from streamcal.errors import MalformedEventError
from streamcal.routing import RoutingConfig

__all__ = ["FileOutcomes", "Observer", "RunEnd", "Tally", "ingest_state", "render_summary"]


@dataclass(slots=True)
class Tally:
    """Everything the summary reports, deduplicated by identity (redeliveries are not double-counted)."""

    arrived: dict[str, ExposureArrived] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)
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
            self.arrived.setdefault(str(event.path), event)
        elif isinstance(event, AssociationDeclared):
            self.declared.add(str(event.asn_path))
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
        """Seconds from this run seeing a raw file (its arrival event) to its stage-1 products, for the runs that
        did the work. Not from the file's modification time: a file that lay in the folder before the run
        started would count the time before the run (issue 16)."""
        seen = {event.exposure_id: event.created for event in self.arrived.values()}
        out = []
        for written in self.products.values():
            since = seen.get(written.exposure_id)
            if since is not None and not written.skipped and written.input_path.name.endswith("_uncal.fits"):
                out.append((written.created - since).total_seconds())
        return out

    def outcomes(self, served: Iterable[str]) -> FileOutcomes:
        """What became of each file that arrived in this run (see :class:`FileOutcomes`)."""
        served = set(served)
        dead = {d.key for d in self.deadletters.values()} | {
            d.exposure_id for d in self.deadletters.values() if d.exposure_id}
        ended, waiting = set(), set()
        for written in self.products.values():
            nxt = written.next_topic
            stages = self.routes.get(written.exposure_id, ("", False, ()))[2]
            if nxt is None or (nxt == MEMBER_DONE and written.pipeline != (stages[0] if stages else None)):
                ended.add(written.exposure_id)  # its route ends here, or stage 2 reported it to the tracker
            elif is_pending(nxt) or (alias_of(nxt) is not None and alias_of(nxt) not in served):
                waiting.add(written.exposure_id)
        for (_, _), ids in self.pending.items():
            waiting |= ids
        for alias, ids in self.work.items():
            if alias not in served:
                waiting |= ids
        out = FileOutcomes()
        for path, event in sorted(self.arrived.items()):
            key = event.exposure_id
            if key in dead:
                out.dead_lettered.append(key)
            elif key in ended or (event.file_kind != "exposure" and path in self.declared):
                out.processed.append(key)
            elif key in waiting:
                out.waiting.append(key)
            else:
                out.unfinished.append(key)
        out.stage3_unfinished = sorted(
            r.asn_path.name for r in self.released.values()
            if r.pipeline in served and r.association_id not in dead
            and not any(w.association_id == r.association_id and w.pipeline == r.pipeline
                        for w in self.products.values()))
        return out


@dataclass(slots=True)
class FileOutcomes:
    """The files that arrived in this run by outcome (file ids: exposure roots, ASN and pool file names).

    ``processed``: every implemented stage 1/2 of its route ran (or an ASN/pool declared its associations);
    ``dead_lettered``; ``waiting``: its next stage has no worker in this run, or its pipeline does not take that
    kind of exposure yet; ``unfinished``: none of these yet (work queued or in flight when the run stopped).
    ``stage3_unfinished``: ASNs released to a stage 3 this run serves whose products were not written.
    """

    processed: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    stage3_unfinished: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEnd:
    """How a run ended, for the summary: the ingest files it skipped as finished (reason → file names), the
    ones it had not taken in yet (at the completeness gate, or not scanned before a signal), and the signal
    that interrupted it (None: it stopped when idle)."""

    skipped: dict[str, list[str]] = field(default_factory=dict)
    not_taken: list[str] = field(default_factory=list)
    interrupted: str | None = None


def ingest_state(ingest_dir: Path, products_dir: Path, config: RoutingConfig, *, seen: Iterable[str],
                 dead_lettered: Callable[[str], bool]) -> tuple[dict[str, list[str]], list[str]]:
    """The ingest folder's files this run did not take in (blocking: run it in a thread).

    Returns the ones the watcher skipped as finished, by reason, and the others (not taken in yet). Uses the
    watcher's own test (:func:`services.ingest.finished`), so the summary says what the startup scan decided.
    """
    skipped: dict[str, list[str]] = {}
    not_taken: list[str] = []
    seen_names = {Path(p).name for p in seen}
    try:
        paths = sorted(p for p in ingest_dir.iterdir() if eligible(p) and p.name not in seen_names)
    except OSError:
        return skipped, not_taken
    index = product_index(products_dir)
    for path in paths:
        if not finished(path, products=index, products_dir=products_dir, config=config,
                        dead_lettered=dead_lettered):
            not_taken.append(path.name)
            continue
        if dead_lettered(file_id(path)):
            reason = "dead-lettered by an earlier run (streamcal deadletters list)"
        elif file_kind(path) == "exposure":
            reason = f"finished by an earlier run: its products are in {products_dir}"
        else:
            reason = "associations already declared to the tracker"
        skipped.setdefault(reason, []).append(path.name)
    return skipped, not_taken


class Observer:
    """A consumer on every topic that feeds a :class:`Tally` (the run's summary)."""

    name = "observer"

    def __init__(self, *, bus: Bus, metrics: Metrics, deadletters: DeadLetters, topics: Sequence[str],
                 since: datetime | None = None) -> None:
        self.tally = Tally(since=since)
        self.consumer = Consumer(name=self.name, bus=bus, topics=topics,
                                 group=f"streamcal.observer.{uuid.uuid4().hex[:8]}", handler=self.handle,
                                 metrics=metrics, deadletters=deadletters, policy=RetryPolicy(max_attempts=1))

    def longest_attempt(self) -> float:
        """Seconds the oldest tally now running has been running (liveness)."""
        return self.consumer.longest_attempt()

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


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _header(tally: Tally, outcomes: FileOutcomes, end: RunEnd, elapsed: float, out: TextIO) -> None:
    """Every file the run saw: arrived (and what became of each), skipped as finished (and why), not taken in."""
    skipped = sum(len(v) for v in end.skipped.values())
    seen = len(tally.arrived) + skipped + len(end.not_taken)
    how = f"interrupted by {end.interrupted}" if end.interrupted else "done"
    print(f"\nstreamcal run: {how} after {elapsed:.1f} s; saw {_plural(seen, 'file')}: {len(tally.arrived)} arrived, "
          f"{skipped} skipped as finished" + (f", {len(end.not_taken)} not taken in yet" if end.not_taken else ""),
          file=out)
    print(f"  arrived: {len(outcomes.processed)} processed, {len(outcomes.dead_lettered)} dead-lettered, "
          f"{len(outcomes.waiting)} waiting for a stage this run cannot run, {len(outcomes.unfinished)} unfinished "
          f"({_plural(len(tally.routes), 'exposure')} routed)", file=out)
    for reason, names in sorted(end.skipped.items()):
        print(f"  skipped as finished ({reason}): {len(names)}", file=out)


def _interrupted(outcomes: FileOutcomes, end: RunEnd, out: TextIO) -> None:
    """What an interrupted run left unfinished (the next ``streamcal run`` picks it up)."""
    print(f"\ninterrupted by {end.interrupted}: unfinished work is picked up by the next streamcal run", file=out)
    if outcomes.unfinished:
        print(f"  {_plural(len(outcomes.unfinished), 'file')} arrived but unfinished: "
              f"{_names(outcomes.unfinished)}", file=out)
    if outcomes.stage3_unfinished:
        print(f"  {_plural(len(outcomes.stage3_unfinished), 'association')} released but stage 3 unfinished: "
              f"{_names(outcomes.stage3_unfinished)}", file=out)
    if end.not_taken:
        print(f"  {_plural(len(end.not_taken), 'file')} in the ingest folder not taken in yet: "
              f"{_names(end.not_taken)}", file=out)
    if not (outcomes.unfinished or outcomes.stage3_unfinished or end.not_taken):
        print("  nothing was unfinished", file=out)


def render_summary(tally: Tally, *, elapsed: float, served: Iterable[str], out: TextIO,
                   end: RunEnd | None = None) -> None:
    """The end-of-run summary (see the module docstring); ``end`` says how the run ended (default: when idle,
    with no ingest-folder files left out)."""
    served = sorted(set(served))
    end = end or RunEnd()
    outcomes = tally.outcomes(served)
    _header(tally, outcomes, end, elapsed, out)
    print("\nexposures by route", file=out)
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
    if tally.released:
        rows = [(r.pipeline, r.asn_path.name, f"{len(r.members)}{' (partial)' if r.partial else ''}")
                for r in sorted(tally.released.values(), key=lambda r: (r.pipeline, r.asn_path.name))]
        _table(rows, ("pipeline", "ASN", "members"), out)
    print(f"\ndead letters: {len(tally.deadletters)}", file=out)
    if tally.deadletters:
        rows = [(d.reason, d.path.rsplit("/", 1)[-1] if d.path else d.key, d.service, " ".join(d.error.split())[:100])
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
        print(f"  file seen by this run → stage-1 products: median {statistics.median(latencies):.2f} s, "
              f"max {max(latencies):.2f} s over {_plural(len(latencies), 'exposure')}", file=out)
    else:
        print("  no stage-1 run in this session", file=out)
    if end.interrupted:
        _interrupted(outcomes, end, out)
