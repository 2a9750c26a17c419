"""Lifecycle and logging: how a service process starts, stops and says what it is doing.

* :func:`run_services` runs services as tasks until a stop is requested. SIGTERM/SIGINT set the stop event;
  services stop fetching and drain in-flight work for ``grace_s``; then what is left is cancelled
  (uncommitted, so it is redelivered). A second signal cancels at once. Resources (bus, pools, HTTP
  server) belong to one ``AsyncExitStack`` owned by the caller (:mod:`services.app`).
* :func:`configure_logging` is the only logging setup: JSON lines carrying the context fields set with
  :func:`log_context` (``exposure_id``, ``exp_type``, ``pipeline``, ...), which follow the asyncio task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

__all__ = ["JsonFormatter", "Service", "configure_logging", "install_signal_handlers", "log_context", "run_services"]

log = logging.getLogger(__name__)

# A ContextVar is context-local by construction (each asyncio task sees its own copy): not global state.
_CONTEXT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("streamcal_log_context", default=())


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (None values skipped) to every log record emitted inside the block, in this task."""
    current = dict(_CONTEXT.get())
    current.update({k: str(v) for k, v in fields.items() if v is not None})
    token = _CONTEXT.set(tuple(current.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the log context, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(dict(_CONTEXT.get()))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(f"{k}={v}" for k, v in _CONTEXT.get())
        return f"{text} [{context}]" if context else text


def configure_logging(level: str = "INFO", *, json_lines: bool = True, stream: TextIO | None = None) -> None:
    """Configure the root logger once, from ``main()``.

    Parameters
    ----------
    level : str
        A logging level name.
    json_lines : bool
        JSON lines (services) or plain text (interactive ``streamcal run``).
    stream : TextIO, optional
        Default stderr.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


class Service(Protocol):
    """A long-running part of the system (watcher, router, worker, tracker)."""

    name: str

    @property
    def ready(self) -> bool:
        """Subscribed and able to work (``/readyz``)."""
        ...

    def longest_attempt(self) -> float:
        """Seconds the oldest piece of work now running has been at it (``/healthz``)."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then stop fetching, finish in-flight work and return."""
        ...


def install_signal_handlers(on_signal: Callable[[signal.Signals], None]) -> list[signal.Signals]:
    """Have the running loop call ``on_signal`` on SIGTERM and SIGINT; returns the signals it could take (none
    outside the main thread or on a loop without Unix signals). The caller removes them when done."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not a Unix loop
            pass
    return installed


def _install_signals(stop: asyncio.Event, force: asyncio.Event) -> list[signal.Signals]:
    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("second %s: cancelling in-flight work now", sig.name)
            force.set()
        else:
            log.info("%s received: draining in-flight work", sig.name)
            stop.set()

    return install_signal_handlers(on_signal)


async def _drain(tasks: set[asyncio.Task[None]], grace_s: float, force: asyncio.Event) -> None:
    """Wait for the tasks to finish by themselves for ``grace_s`` (or until forced), then cancel the rest."""
    if tasks:
        forced = asyncio.ensure_future(force.wait())
        everything = asyncio.ensure_future(asyncio.wait(tasks))
        await asyncio.wait({forced, everything}, timeout=grace_s, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        everything.cancel()
    late = [t for t in tasks if not t.done()]
    if late:
        log.warning("grace period over: cancelling %d service(s) with work in flight (it will be redelivered)",
                    len(late))
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_services(services: Sequence[Service], *, stop: asyncio.Event, grace_s: float,
                       install_signals: bool = True) -> int:
    """Run services until ``stop`` is set (by a signal, the caller, or a crashed service), then drain.

    Parameters
    ----------
    services : sequence of Service
    stop : asyncio.Event
        Set it to begin a graceful stop.
    grace_s : float
        Drain time before in-flight work is cancelled.
    install_signals : bool
        Handle SIGTERM/SIGINT (only possible in the main thread).

    Returns
    -------
    int
        0 after a requested stop, 1 if a service crashed.
    """
    force = asyncio.Event()
    installed = _install_signals(stop, force) if install_signals else []
    tasks = {asyncio.create_task(s.run(stop), name=s.name) for s in services}
    try:
        status = await _until_stopped(tasks, stop)
        await _drain(tasks, grace_s, force)
    finally:
        for task in tasks:
            task.cancel()
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    return status


async def _until_stopped(tasks: set[asyncio.Task[None]], stop: asyncio.Event) -> int:
    """Wait for a stop request; a service that crashes requests one (and makes the status 1)."""
    status = 0
    while not stop.is_set():
        live: list[asyncio.Task[Any]] = [t for t in tasks if not t.done()]
        if not live:
            break
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*live, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in tasks & done:
            if not task.cancelled() and task.exception() is not None:
                log.error("service %s crashed: stopping", task.get_name(), exc_info=task.exception())
                status = 1
                stop.set()
    return status
