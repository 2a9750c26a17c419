"""The watcher: files landing in the ingest folder → ``exposure.arrived``.

At start it rescans the ingest folder and re-emits every file whose stages are not finished, as its products'
recorded run specification says (so nothing is lost across a crash: ARCHITECTURE.md, "Embedded default"), then
follows changes with watchfiles (``awatch``; ``force_polling`` for network filesystems). Every change only makes
a file a candidate; the completeness gate (:class:`services.ingest.Gate`) decides when to emit, polling every
``poll_interval_s``. A periodic rescan is the safety net for events the OS dropped. One watcher per ingest folder.
When the broker loses its topics (:attr:`services.bus.Bus.generation`), the arrivals they held are gone: the
watcher rescans as at start and re-emits every file that is not finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from watchfiles import awatch

from services.bus import Bus
from services.codec import encode
from services.consumer import Activity
from services.events import ARRIVED
from services.ingest import Gate, arrival, eligible, finished, looks_whole, product_index, signature_of, stat_all
from services.metrics import Metrics
from services.outcomes import Outcome, outcome_of
from streamcal.routing import RoutingConfig

__all__ = ["Watcher"]

log = logging.getLogger(__name__)


class Watcher:
    """The watcher service.

    Parameters
    ----------
    bus, metrics
        Shared plumbing.
    ingest_dir, products_dir : Path
    config : RoutingConfig
        To read, at the startup rescan, the run specification products record (whether a file is finished).
    gate : Gate
        The completeness gate (its ``settle_polls`` and ``corrupt_after_s``).
    poll_interval_s, rescan_interval_s : float
    force_polling : bool
    dead_lettered : callable, optional
        ``key -> bool``: the startup rescan skips files already dead-lettered (embedded record store).
    activity : Activity, optional
    """

    name = "watcher"

    def __init__(self, *, bus: Bus, metrics: Metrics, ingest_dir: Path, products_dir: Path, config: RoutingConfig,
                 gate: Gate, poll_interval_s: float = 0.5, rescan_interval_s: float = 60.0,
                 force_polling: bool = False, dead_lettered: Callable[[str], bool] | None = None,
                 activity: Activity | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        # absolute, as watchfiles reports paths: a relative --ingest would make the rescan's listing and the
        # watch name one file two ways, and the gate would emit it twice
        self.ingest_dir = Path(os.path.abspath(ingest_dir))
        self.products_dir = products_dir
        self.config = config
        self.gate = gate
        self.poll_interval_s = poll_interval_s
        self.rescan_interval_s = rescan_interval_s
        self.force_polling = force_polling
        self.dead_lettered = dead_lettered or (lambda key: False)
        self.activity = activity or Activity()
        self._ready = False
        self._pass_started: float | None = None  # when the gate pass now running began (liveness)
        metrics.declare(self.name, [ARRIVED])

    @property
    def ready(self) -> bool:
        """The startup rescan is done and the folder is being watched."""
        return self._ready

    def longest_attempt(self) -> float:
        """Seconds the gate pass now running has been running (0 between passes): a stat or header read that
        never returns (a hung network file system) shows here."""
        return 0.0 if self._pass_started is None else time.monotonic() - self._pass_started

    @property
    def pending(self) -> int:
        """Files waiting at the completeness gate."""
        return len(self.gate.candidates)

    async def run(self, stop: asyncio.Event) -> None:
        """Rescan, then watch and gate until stopped."""
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        # Watch first, then scan: a file landing in between is seen twice (the gate deduplicates), never
        # missed. awatch installs its OS watch on its first step, before its first await.
        watch = asyncio.create_task(self._watch(stop))
        await asyncio.sleep(0.05)
        todo, skipped = await asyncio.to_thread(self._startup_scan)
        for path in todo:
            self.gate.consider(path)
        log.info("watching %s: %d file(s) to (re)emit, %d already finished", self.ingest_dir, self.pending, skipped)
        self._ready = True
        last_rescan = time.monotonic()
        generation = self.bus.generation
        try:
            while not stop.is_set():
                if self.bus.generation != generation:
                    generation = self.bus.generation
                    await self._after_broker_loss()
                self._pass_started = time.monotonic()
                try:
                    await self._gate_pass()
                finally:
                    self._pass_started = None
                if time.monotonic() - last_rescan >= self.rescan_interval_s:
                    for path in await asyncio.to_thread(self._rescan):
                        self.gate.consider(path)
                    last_rescan = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval_s)
        finally:
            self._ready = False
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)

    async def _after_broker_loss(self) -> None:
        """Re-emit every unfinished file: the arrivals (and the work after them) the broker held are gone."""
        todo, skipped = await asyncio.to_thread(self._startup_scan)
        self.gate.emitted.clear()  # emitted into topics that no longer exist
        for path in todo:
            self.gate.consider(path)
        log.warning("the broker lost its topics: re-emitting %d unfinished file(s) (%d finished)", len(todo),
                    skipped)

    def _startup_scan(self) -> tuple[list[Path], int]:
        """Files to (re)emit at start, and how many were skipped as finished (blocking)."""
        todo, skipped = [], 0
        products = product_index(self.products_dir)
        for path in sorted(self.ingest_dir.iterdir()):
            if not eligible(path):
                continue
            if finished(path, products=products, products_dir=self.products_dir, config=self.config,
                        dead_lettered=self.dead_lettered):
                skipped += 1
            else:
                todo.append(path)
        return todo, skipped

    def _rescan(self) -> list[Path]:
        """Eligible files whose current version was never emitted (blocking)."""
        todo = []
        for path in self.ingest_dir.iterdir():
            try:
                st = path.lstat()  # the gate's signature: a symbolic link's own (services.ingest.stat_all)
            except FileNotFoundError:
                continue
            if eligible(path) and (path, signature_of(st)) not in self.gate.emitted:
                todo.append(path)
        return todo

    async def _watch(self, stop: asyncio.Event) -> None:
        debounce_ms = max(50, int(self.poll_interval_s * 1000))
        async for changes in awatch(self.ingest_dir, watch_filter=lambda _c, p: eligible(Path(p)),
                                    stop_event=stop, force_polling=self.force_polling, recursive=False,
                                    poll_delay_ms=debounce_ms, debounce=debounce_ms, step=50):
            # Every kind of change counts, "deleted" included: watchfiles pairs rename events by parity, and
            # the destination of a rename (how careful producers land files) can come out as "deleted". The
            # gate stats the path anyway and drops it if it is really gone.
            for _change, name in changes:
                self.gate.consider(Path(name))
            self.activity.touch()

    async def _gate_pass(self) -> None:
        if not self.gate.candidates:
            self.metrics.inflight.labels(service=self.name).set(0)
            return
        # Blocking work (stat, header reads) in threads; the gate's state changes only on the loop.
        stats = await asyncio.to_thread(stat_all, list(self.gate.candidates))
        stable = self.gate.settled(stats)
        wholes = await asyncio.to_thread(lambda: [looks_whole(p, sig[0]) for p, sig in stable])
        ready = [v for v, whole in zip(stable, wholes, strict=True) if self.gate.decide(v, whole)]
        self.metrics.inflight.labels(service=self.name).set(self.pending)
        for version in ready:
            path, (size, mtime_ns, _, _) = version
            event = arrival(path, size, mtime_ns)
            publish = functools.partial(self.bus.publish, ARRIVED, event.exposure_id, encode(event))
            result, _ = await outcome_of(publish)
            if result.outcome is not Outcome.SUCCESS:
                log.error("publishing the arrival of %s failed (%s): trying again", path.name, result.error)
                continue
            self.gate.emitted_ok(version)
            self.metrics.events.labels(service=self.name, topic=ARRIVED, outcome=Outcome.SUCCESS.value).inc()
            self.metrics.last_success.labels(service=self.name).set(time.time())
            self.activity.touch()
            log.info("arrived: %s (%d bytes)", path.name, size)
