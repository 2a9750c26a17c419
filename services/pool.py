"""The process pool that runs pipelines off the event loop, with a per-exposure timeout.

Calibration is numpy work of seconds to many minutes; on the event loop it would stop Kafka heartbeats
(aiokafka#1059). Each run goes to a ``ProcessPoolExecutor`` (``spawn`` start method by default: safe next
to an event loop and threads) through ``run_in_executor``; at most ``processes`` runs at once.

A run that exceeds ``timeout_s`` cannot be cancelled inside its process, so the pool is recycled: its
processes are terminated and a new pool replaces it. Runs that shared the old pool fail with
``BrokenProcessPool``, which is retriable, and are retried on the new one.

Pool processes die with the process that started them (:func:`die_with_parent`): a worker killed with
SIGKILL (an OOM kill, a node failure) cannot leave orphans that keep calibrating and writing products while
another worker redoes the same work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Self

from streamcal.pipelines import PipelineResult, RunRequest, run_pipeline

__all__ = ["PipelinePool", "die_with_parent", "warm_up"]

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int | None = None) -> None:
    """Pool process initializer: exit as soon as the parent process is gone.

    ``parent`` is the pid of the process that started this one (None: whatever the parent is now — the
    forkserver start method's parent is the fork server). On Linux the kernel sends SIGKILL at the parent's
    death (``prctl(PR_SET_PDEATHSIG)``); everywhere, a daemon thread also checks every 0.5 s that the parent is
    still that process (an orphan is re-parented) and exits otherwise. A process whose parent died while it
    was still starting exits at once.
    """
    parent = os.getppid() if parent is None else parent
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or no libc to ask
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def warm_up() -> int:
    """Import the calibration code in a pool process (so the first exposure does not pay for it)."""
    import streamcal.pipelines  # noqa: F401 - the import is the point

    return os.getpid()


class PipelinePool:
    """Run ``run_pipeline`` in worker processes with a per-run timeout (a :class:`services.runner.Runner`).

    The pool processes need no configuration: each request carries its run specification.

    Parameters
    ----------
    processes : int
        Pool size, which is also the number of concurrent runs.
    timeout_s : float
        Per-run limit.
    mp_start : str
        ``spawn`` (default), ``forkserver`` or ``fork``.
    """

    def __init__(self, *, processes: int, timeout_s: float, mp_start: str = "spawn") -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.mp_start = mp_start
        self._slots = asyncio.Semaphore(processes)
        self._pool: ProcessPoolExecutor | None = None
        self._starting = asyncio.Lock()

    def _new_pool(self) -> ProcessPoolExecutor:
        parent = None if self.mp_start == "forkserver" else os.getpid()
        return ProcessPoolExecutor(max_workers=self.processes, mp_context=multiprocessing.get_context(self.mp_start),
                                   initializer=die_with_parent, initargs=(parent,))

    async def start(self) -> None:
        """Create the pool and import the calibration code in every process (idempotent)."""
        async with self._starting:
            if self._pool is None:
                pool = self._new_pool()
                await self._warm(pool)
                self._pool = pool

    async def _warm(self, pool: ProcessPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(*(loop.run_in_executor(pool, warm_up) for _ in range(self.processes)))
        log.info("pipeline pool ready: %d process(es) (%s)", len(set(pids)), self.mp_start)

    async def run(self, request: RunRequest) -> PipelineResult:
        """Run a pipeline in the pool.

        Raises
        ------
        TimeoutError
            Longer than ``timeout_s``; the pool was recycled. Retriable.
        BrokenProcessPool
            A pool process died (killed, out of memory). Retriable.
        StreamcalError
            From the pipeline, with its own ``retriable``.
        """
        async with self._slots:
            await self.start()
            pool = self._pool
            assert pool is not None
            future = asyncio.get_running_loop().run_in_executor(pool, run_pipeline, request)
            try:
                return await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                alias, name = request.pipeline, request.input_path.name
                log.error("%s on %s exceeded %.0f s: recycling the pool", alias, name, self.timeout_s)
                await self._recycle(pool)
                raise TimeoutError(f"{alias} on {name} exceeded the {self.timeout_s:g} s limit") from None
            except BrokenProcessPool:
                await self._recycle(pool)
                raise

    async def _recycle(self, pool: ProcessPoolExecutor) -> None:
        """Terminate a pool's processes (once: every run that shared a broken pool lands here) and start
        afresh on the next run. The joins wait up to 5 s a process, so they run off the event loop."""
        if self._pool is not pool:
            return
        self._pool = None
        await asyncio.to_thread(_terminate, pool)

    def kill(self) -> None:
        """Terminate the pool's processes now (what a crash of the worker's host does; used by tests)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            _terminate(pool)

    async def close(self) -> None:
        """Stop the pool: queued runs are cancelled, running ones terminated (idempotent)."""
        self.kill()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


def _terminate(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop a running task; its process table is the only handle.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
