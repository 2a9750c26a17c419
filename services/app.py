"""Assembling services into a process: ``streamcal run`` (all of them) and ``streamcal serve`` (one).

Everything a process owns (bus, pipeline pool, HTTP server) is entered into one ``AsyncExitStack``; the
services run under :func:`services.runtime.run_services`, which drains on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TextIO

from prometheus_client import CollectorRegistry

from services.bus import Bus, InMemoryBus, make_bus
from services.confine import Roots
from services.consumer import Activity, RetryPolicy
from services.deadletters import DeadLetters, DeadLetterStore, replay
from services.events import all_topics, is_pending, utcnow
from services.http import HealthServer
from services.ingest import Gate
from services.lag import LagSampler, Watched
from services.metrics import Metrics
from services.pool import PipelinePool
from services.report import Observer, RunEnd, ingest_state, progress_line, render_summary
from services.router import Router
from services.runtime import Service, install_signal_handlers, run_services
from services.settings import BusUrl, Settings
from services.tracker import Tracker
from services.watcher import Watcher
from services.worker import Worker
from streamcal.errors import ConfigError
from streamcal.pipelines import check_pars, implemented_aliases
from streamcal.routing import RoutingConfig

__all__ = ["ROLES", "Process", "RunResult", "build_process", "check_broker", "run_system", "serve"]

log = logging.getLogger(__name__)

ROLES = ("watcher", "router", "worker", "tracker")


@dataclass(slots=True)
class Process:
    """The parts of one running process (tests reach into it)."""

    settings: Settings
    bus: Bus
    metrics: Metrics
    deadletters: DeadLetters
    activity: Activity
    config: RoutingConfig
    services: list[Service] = field(default_factory=list)
    watcher: Watcher | None = None
    workers: list[Worker] = field(default_factory=list)
    observer: Observer | None = None
    http: HealthServer | None = None

    @property
    def served(self) -> list[str]:
        """The pipeline aliases that have a worker in this process."""
        return [w.alias for w in self.workers]

    def ready(self) -> bool:
        """Every service is ready, and the broker answers (always, on the embedded bus)."""
        parts: list[Service] = [*self.services, *([self.observer] if self.observer else [])]
        return self.bus.connected and all(s.ready for s in parts)

    def alive(self) -> bool:
        """No service is stuck: none has a piece of work running for longer than ``stall_after_s`` (a worker's
        run is cut off at ``timeout_s``, so only a hang outlives it). The loop answering is the rest of it."""
        limit = self.settings.stall_limit_s
        stuck = [s.name for s in self.services if s.longest_attempt() > limit]
        if stuck:
            log.error("no progress for more than %g s in %s: /healthz reports unhealthy", limit, ", ".join(stuck))
        return not stuck


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a ``streamcal run`` ended: ``status`` is 0 when it stopped by itself (idle, or the caller's ``stop``),
    1 if a service crashed, 128 + the signal's number when a signal stopped it (130 SIGINT, 143 SIGTERM)."""

    status: int
    elapsed: float
    process: Process
    end: RunEnd = field(default_factory=RunEnd)


def _policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(max_attempts=settings.max_attempts, base_s=settings.backoff_base_s,
                       max_s=settings.backoff_max_s)


async def build_process(settings: Settings, stack: AsyncExitStack, *, roles: Sequence[str] = ROLES,
                        pipelines: Sequence[str] | None = None, registry: CollectorRegistry | None = None,
                        observe: bool = False, alone: bool = False) -> Process:
    """Create the bus, the services of ``roles`` and the HTTP server, entered into ``stack``.

    Parameters
    ----------
    pipelines : sequence of str, optional
        Worker aliases (default: every implemented alias the registry knows).
    alone : bool
        The process runs some services without the others (``streamcal serve``): they can only meet over
        Kafka, so the memory bus is refused.

    Raises
    ------
    ConfigError
        A required folder is not set, a worker alias has no implementation, a configuration file is invalid
        (the routing table, or a parameter file with an unknown step or parameter), ``alone`` on the memory bus,
        or no Kafka bootstrap server answers: every one is checked here, before anything connects. Not
        retriable.
    """
    config = RoutingConfig.load(settings.config_dir)
    table, library = config.table, config.library
    checked = check_pars(config)
    for role in roles:
        _check_role(settings, config, role, pipelines)
    if alone and settings.bus_url.kind == "memory":
        raise ConfigError(f"streamcal serve {' '.join(roles)} cannot work on the memory bus: the other services "
                          "are in other processes; pass --bus kafka://HOST:PORT (or set STREAMCAL_BUS), or use "
                          "streamcal run for every service in one process")
    await check_broker(settings.bus_url)
    log.info("configuration: %d EXP_TYPE routes, %d parameter files (%d checked against their pipeline's steps)",
             len(table.exp_types), len(library.files), checked)
    aliases = table.registry.aliases
    bus = await stack.enter_async_context(make_bus(settings, all_topics(aliases)))
    metrics = Metrics(registry or CollectorRegistry(), services=roles)
    store = None
    if isinstance(bus, InMemoryBus) and settings.products_dir is not None:
        store = DeadLetterStore(settings.products_dir / "deadletter")
    proc = Process(settings, bus, metrics, DeadLetters(bus, metrics, store), Activity(), config)
    if observe:
        # A new group reads a Kafka topic from its beginning: count only what happens from now on.
        since = None if isinstance(bus, InMemoryBus) else utcnow()
        proc.observer = Observer(bus=bus, metrics=metrics, deadletters=proc.deadletters,
                                 topics=all_topics(aliases), since=since)
    for role in roles:
        await _add_role(proc, role, stack, pipelines)
    proc.services.append(_lag_sampler(proc, aliases))
    if settings.metrics_port is not None:
        proc.http = await stack.enter_async_context(HealthServer(metrics, ready=proc.ready, alive=proc.alive,
                                                                 host=settings.metrics_host,
                                                                 port=settings.metrics_port))
    return proc


def _lag_sampler(proc: Process, aliases: Sequence[str]) -> LagSampler:
    """The lag of every consumer group of the process's services; the parked work where the tracker runs."""
    consumers = [s.consumer for s in proc.services if isinstance(s, Router | Worker | Tracker)]
    tracker = next((s for s in proc.services if isinstance(s, Tracker)), None)
    return LagSampler(bus=proc.bus, metrics=proc.metrics,
                      groups=[Watched(c.group, c.topics) for c in consumers],
                      pending_topics=[t for t in all_topics(aliases) if is_pending(t)] if tracker else (),
                      held=tracker.held if tracker else None, interval_s=proc.settings.lag_interval_s)


def _worker_aliases(config: RoutingConfig, pipelines: Sequence[str] | None) -> list[str]:
    known = set(config.table.registry.aliases)
    return list(pipelines) if pipelines is not None else sorted(implemented_aliases() & known)


def _check_role(s: Settings, config: RoutingConfig, role: str, pipelines: Sequence[str] | None) -> None:
    """Raise ConfigError if ``role`` cannot start with these settings (before anything connects)."""
    if role == "watcher":
        s.require("ingest_dir", "products_dir")
    elif role == "router":
        s.require("ingest_dir")
    elif role == "tracker":
        s.require("products_dir")
    elif role == "worker":
        s.require("refs_dir", "products_dir")
        chosen = _worker_aliases(config, pipelines)
        missing = [a for a in chosen if a not in implemented_aliases()]
        if missing:
            raise ConfigError(f"no implementation of {', '.join(missing)}; implemented: "
                              f"{', '.join(sorted(implemented_aliases()))}")
        stage1 = sorted(set(chosen) & {rule.stage1 for rule in config.table.rules})
        if stage1 and s.ingest_dir is None:  # their inputs must lie in it (services.confine): say so now
            raise ConfigError(f"ingest_dir is not set: {', '.join(stage1)} read raw files from the ingest folder; "
                              "pass --ingest or set STREAMCAL_INGEST_DIR")
    else:
        raise ConfigError(f"unknown service {role!r}; expected one of {', '.join(ROLES)}")


async def check_broker(url: BusUrl, *, timeout_s: float = 5.0) -> None:
    """For a Kafka bus, raise a one-line ConfigError when no bootstrap server accepts a connection (instead of
    the client library's traceback); nothing for the memory bus. Not retriable (a startup error)."""
    if url.kind != "kafka":
        return
    failures = []
    for server in url.bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout_s)
        except (OSError, TimeoutError) as exc:
            failures.append(f"{server} ({getattr(exc, 'strerror', None) or type(exc).__name__})")
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise ConfigError(f"cannot reach the Kafka broker at {', '.join(failures)}: start it, or point --bus (or "
                      "STREAMCAL_BUS) at one that runs; --bus memory runs every service in one process without Kafka")


async def _add_role(proc: Process, role: str, stack: AsyncExitStack, pipelines: Sequence[str] | None) -> None:
    s, policy = proc.settings, _policy(proc.settings)
    bus, metrics = proc.bus, proc.metrics
    if role == "watcher":
        s.require("ingest_dir", "products_dir")
        assert s.ingest_dir is not None and s.products_dir is not None
        store = proc.deadletters.store
        proc.watcher = Watcher(bus=bus, metrics=metrics, ingest_dir=s.ingest_dir, products_dir=s.products_dir,
                               config=proc.config,
                               gate=Gate(settle_polls=s.settle_polls, corrupt_after_s=s.corrupt_after_s),
                               poll_interval_s=s.poll_interval_s, rescan_interval_s=s.rescan_interval_s,
                               force_polling=s.force_polling, dead_lettered=store.has if store else None,
                               activity=proc.activity)
        proc.services.append(proc.watcher)
    elif role == "router":
        s.require("ingest_dir")
        proc.services.append(Router(bus=bus, metrics=metrics, deadletters=proc.deadletters, config=proc.config,
                                    roots=Roots.of(ingest=s.ingest_dir), policy=policy, activity=proc.activity))
    elif role == "tracker":
        s.require("products_dir")
        assert s.products_dir is not None
        proc.services.append(Tracker(bus=bus, metrics=metrics, deadletters=proc.deadletters,
                                     products_dir=s.products_dir, config=proc.config,
                                     deadline_s=s.association_deadline_s,
                                     sweep_interval_s=s.sweep_interval_s, policy=policy, activity=proc.activity))
    elif role == "worker":
        await _add_workers(proc, stack, pipelines, policy)
    else:
        raise ConfigError(f"unknown service {role!r}; expected one of {', '.join(ROLES)}")


async def _add_workers(proc: Process, stack: AsyncExitStack, pipelines: Sequence[str] | None,
                       policy: RetryPolicy) -> None:
    s = proc.settings
    _check_role(s, proc.config, "worker", pipelines)  # build_process checked it already; direct callers too
    assert s.refs_dir is not None and s.products_dir is not None
    chosen = _worker_aliases(proc.config, pipelines)
    # One pool for every worker of the process: its size bounds the CPU used, whatever the pipeline.
    roots = Roots.of(ingest=s.ingest_dir, products=s.products_dir, refs=s.refs_dir)
    pool = await stack.enter_async_context(PipelinePool(processes=s.concurrency, timeout_s=s.timeout_s,
                                                        mp_start=s.mp_start))
    for alias in chosen:
        worker = Worker(alias=alias, bus=proc.bus, metrics=proc.metrics, deadletters=proc.deadletters, runner=pool,
                        roots=roots, policy=policy, activity=proc.activity)
        proc.workers.append(worker)
        proc.services.append(worker)


def _idle(proc: Process) -> bool:
    """Nothing pending anywhere this process can see."""
    if not proc.ready() or (proc.watcher is not None and proc.watcher.pending):
        return False
    if isinstance(proc.bus, InMemoryBus):
        groups = [g for g in proc.bus.groups() if proc.observer is None or g != proc.observer.group]
        return all(proc.bus.backlog(g) == 0 or proc.bus.members(g) == 0 for g in groups)
    return True


async def _supervise(proc: Process, stop: asyncio.Event, *, until_idle: float | None, progress: TextIO | None,
                     started: float, every_s: float = 2.0) -> None:
    """Print progress; set ``stop`` once idle for ``until_idle`` seconds."""
    last_line, last_print = "", 0.0
    ready_since: float | None = None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.1)
        now = time.monotonic()
        # The quiet period counts from when every consumer holds its partitions: joining a Kafka group whose
        # previous members died takes a session timeout, and nothing can happen before that.
        ready_since = (ready_since or now) if proc.ready() else None
        if progress is not None and proc.observer is not None and now - last_print >= every_s:
            line = progress_line(proc.observer.tally, now - started, proc.activity.busy, proc.served)
            if line.split("]", 1)[1] != last_line:
                print(line, file=progress, flush=True)
                last_line, last_print = line.split("]", 1)[1], now
        quiet = min(proc.activity.idle_for(), now - ready_since) if ready_since is not None else 0.0
        if until_idle is not None and _idle(proc) and quiet >= until_idle:
            log.info("idle for %.1f s: stopping", until_idle)
            stop.set()


async def _replay_queued(proc: Process) -> None:
    store = proc.deadletters.store
    if store is None:
        return
    for record in store.queued():
        if await replay(proc.bus, [record.letter]):  # a letter without its original stays where it is
            record.path.unlink()
            log.info("replayed dead letter %s to %s", record.path.name, record.letter.source_topic)


def _catch_signals(stop: asyncio.Event, received: list[signal.Signals]) -> list[signal.Signals]:
    """SIGINT/SIGTERM: the first one is recorded (the exit status and the summary say it) and stops the run,
    which drains for ``shutdown_grace_s``; a second one exits at once, without a summary (work in flight is
    uncommitted and is redelivered to the next run)."""
    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        if len(received) == 1:
            log.info("%s received: draining in-flight work", sig.name)
            stop.set()
            return
        log.warning("second %s: exiting now", sig.name)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)

    return install_signal_handlers(on_signal)


def _run_end(proc: Process, received: Sequence[signal.Signals]) -> RunEnd:
    """The ingest files the run did not take in (blocking: a scan of the folder, header reads of products)."""
    interrupted = received[0].name if received else None
    s, watcher, observer = proc.settings, proc.watcher, proc.observer
    if watcher is None or observer is None or s.products_dir is None:
        return RunEnd(interrupted=interrupted)
    store = proc.deadletters.store
    skipped, not_taken = ingest_state(watcher.ingest_dir, s.products_dir, proc.config, seen=observer.tally.arrived,
                                      dead_lettered=store.has if store is not None else lambda key: False)
    return RunEnd(skipped=skipped, not_taken=not_taken, interrupted=interrupted)


async def run_system(settings: Settings, *, until_idle: float | None = None, progress: TextIO | None = None,
                     pipelines: Sequence[str] | None = None, stop: asyncio.Event | None = None,
                     registry: CollectorRegistry | None = None, install_signals: bool = True,
                     summary: TextIO | None = None, on_start: Callable[[Process], None] | None = None) -> RunResult:
    """Run every service in this process (``streamcal run``) until stopped or idle.

    Parameters
    ----------
    settings : Settings
    until_idle : float, optional
        Stop after this many seconds with nothing arriving, in flight or pending.
    progress, summary : TextIO, optional
        Where progress lines and the final summary go.
    pipelines : sequence of str, optional
        Worker aliases (default: every implemented one).
    stop : asyncio.Event, optional
        Set it to stop (signals set it too).
    registry : CollectorRegistry, optional
    install_signals : bool
        Stop on SIGINT/SIGTERM (only possible in the main thread); see :class:`RunResult` for the status.
    on_start : callable, optional
        Called with the assembled :class:`Process` before the services start (tests, benchmarks).
    """
    started = time.monotonic()
    stop = stop or asyncio.Event()
    received: list[signal.Signals] = []
    async with AsyncExitStack() as stack:
        proc = await build_process(settings, stack, pipelines=pipelines, registry=registry, observe=True)
        await _replay_queued(proc)
        assert proc.observer is not None
        if on_start is not None:
            on_start(proc)
        installed = _catch_signals(stop, received) if install_signals else []
        supervisor = asyncio.create_task(_supervise(proc, stop, until_idle=until_idle, progress=progress,
                                                    started=started))
        try:
            status = await run_services([proc.observer, *proc.services], stop=stop,
                                        grace_s=settings.shutdown_grace_s, install_signals=False)
        finally:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
            for sig in installed:
                asyncio.get_running_loop().remove_signal_handler(sig)
    elapsed = time.monotonic() - started
    end = await asyncio.to_thread(_run_end, proc, received)
    if summary is not None:
        render_summary(proc.observer.tally, elapsed=elapsed, served=proc.served, out=summary, end=end)
    return RunResult(128 + received[0] if received else status, elapsed, proc, end)


async def serve(settings: Settings, role: str, *, pipeline: str | None = None,
                registry: CollectorRegistry | None = None) -> int:
    """Run one service (``streamcal serve``): what a Kubernetes Deployment runs.

    Raises
    ------
    ConfigError
        ``worker`` without ``pipeline``, an unknown role, a missing folder, the memory bus (one service alone
        on it has no one to talk to) or an unreachable broker. Not retriable.
    """
    if role == "worker" and pipeline is None:
        raise ConfigError("streamcal serve worker needs --pipeline ALIAS")
    async with AsyncExitStack() as stack:
        proc = await build_process(settings, stack, roles=[role], registry=registry,
                                   pipelines=[pipeline] if pipeline else None, alone=True)
        return await run_services(proc.services, stop=asyncio.Event(), grace_s=settings.shutdown_grace_s)

