"""Where a worker's pipelines run: the :class:`Runner` protocol and an in-process runner.

A worker hands each run (a :class:`~streamcal.pipelines.RunRequest`) to a runner and awaits the result; the
runner's ``processes`` bounds how many run at once. Two runners exist:

- :class:`services.pool.PipelinePool` — a process pool with a per-run timeout that recycles stuck or broken
  processes: what services use;
- :class:`InProcessRunner` — threads of this process (asyncio's default executor). Numpy still never runs on the
  event loop, but a run that exceeds its timeout cannot be stopped: its thread finishes in the background while
  its slot is already given to the next run, so ``processes`` is not a hard limit after a timeout; a crash takes
  the process with it. For tests of the services' own logic and for one-off tools, where spawning interpreters
  and importing the calibration code into each would cost more than the work.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Protocol, Self

from streamcal.pipelines import PipelineResult, RunRequest, run_pipeline

__all__ = ["InProcessRunner", "Runner"]


class Runner(Protocol):
    """Runs pipelines off the event loop, at most ``processes`` at a time."""

    processes: int

    async def run(self, request: RunRequest) -> PipelineResult:
        """Run one pipeline; raises what the pipeline raises, or TimeoutError (retriable)."""
        ...


class InProcessRunner:
    """A :class:`Runner` on threads of this process (see the module docstring for what it cannot do).

    Parameters
    ----------
    processes : int
        Concurrent runs.
    timeout_s : float
        Per-run limit: past it the worker gets a TimeoutError (the thread runs on).
    """

    def __init__(self, *, processes: int = 1, timeout_s: float = 3600.0) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(processes)

    async def run(self, request: RunRequest) -> PipelineResult:
        async with self._slots:
            try:
                return await asyncio.wait_for(asyncio.to_thread(run_pipeline, request), self.timeout_s)
            except TimeoutError:
                raise TimeoutError(f"{request.pipeline} on {request.input_path.name} exceeded the "
                                   f"{self.timeout_s:g} s limit") from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None
