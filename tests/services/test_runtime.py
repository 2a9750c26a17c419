"""Lifecycle and logging (services/runtime.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal

from services.runtime import JsonFormatter, configure_logging, log_context, run_services


class Sleeper:
    """A service whose in-flight work takes ``work_s`` to finish after a stop."""

    def __init__(self, name: str, work_s: float, crash: bool = False) -> None:
        self.name = name
        self.work_s = work_s
        self.crash = crash
        self.finished = False
        self.cancelled = False

    @property
    def ready(self) -> bool:
        return True

    async def run(self, stop: asyncio.Event) -> None:
        if self.crash:
            raise RuntimeError("boom")
        await stop.wait()
        try:
            await asyncio.sleep(self.work_s)  # draining in-flight work
            self.finished = True
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_stop_drains_within_the_grace_period_then_cancels():
    """1. On stop, services finish in-flight work if they can within the grace period; the rest is cancelled."""
    quick, slow = Sleeper("quick", 0.05), Sleeper("slow", 10.0)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    status = await run_services([quick, slow], stop=stop, grace_s=0.3, install_signals=False)
    assert status == 0 and quick.finished and slow.cancelled and not slow.finished


async def test_a_crashed_service_stops_the_others_with_status_1():
    """2. A service that raises stops the process (exit status 1), draining the others."""
    ok, bad = Sleeper("ok", 0.01), Sleeper("bad", 0, crash=True)
    status = await run_services([ok, bad], stop=asyncio.Event(), grace_s=1.0, install_signals=False)
    assert status == 1 and ok.finished


async def test_sigterm_drains_and_a_second_signal_forces():
    """3. SIGTERM sets the stop event (drain); a second SIGTERM cancels at once, well before the grace period."""
    slow = Sleeper("slow", 30.0)
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
    loop.call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
    started = loop.time()
    status = await run_services([slow], stop=asyncio.Event(), grace_s=20.0, install_signals=True)
    assert status == 0 and slow.cancelled and loop.time() - started < 5


def test_json_logs_carry_the_context():
    """4. One JSON object per line with the log context (exposure_id, exp_type, pipeline)."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO", json_lines=True, stream=stream)
    try:
        with log_context(exposure_id="jw01234001001_02101_00001_nrca1", exp_type="NRC_IMAGE"), \
                log_context(pipeline="calwebb_detector1", skipped=None):
            logging.getLogger("services.test").info("ran %s in %.1f s", "detector1", 0.25)
        logging.getLogger("services.test").warning("outside")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "ran detector1 in 0.2 s"
    assert first["exposure_id"].endswith("nrca1") and first["pipeline"] == "calwebb_detector1"
    assert first["level"] == "INFO" and "skipped" not in first
    assert "exposure_id" not in second
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)
