"""Pool processes die with their worker (issue 13): a worker killed with SIGKILL leaves no process behind that
keeps calibrating and writing products."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: A worker process: starts the real pipeline pool, gives its processes a long task, prints their pids, waits.
_WORKER = """
import asyncio, sys, time
from services.pool import PipelinePool

async def main():
    pool = PipelinePool(processes=2, timeout_s=600.0)
    await pool.start()
    for _ in range(2):
        pool._pool.submit(time.sleep, 600)
    print(" ".join(str(p) for p in pool._pool._processes), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by its new parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_pool_processes_exit_when_their_worker_is_killed() -> None:
    worker = subprocess.Popen([sys.executable, "-c", _WORKER], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert worker.stdout is not None
        pids = [int(p) for p in worker.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), f"orphaned pool processes {pids}"
    finally:
        worker.kill()
        worker.wait(timeout=10)
        if worker.stdout is not None:
            worker.stdout.close()
