"""A full disk is retried until there is room again, never turned into dead letters (issue 13).

The write failures are real: the handler writes to ``/dev/full``, whose writes the kernel fails with ENOSPC,
until the test "makes room"; then it writes to a real file.
"""

from __future__ import annotations

import asyncio
import errno
import pickle
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus, Message
from services.consumer import Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.events import DEADLETTER
from services.metrics import Metrics
from services.outcomes import Outcome, classify
from tests.services.support import eventually

FULL = Path("/dev/full")
pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux) for a real ENOSPC")


def _enospc() -> OSError:
    try:
        FULL.write_bytes(b"x" * 4096)
    except OSError as exc:
        return exc
    raise AssertionError("/dev/full accepted a write")


def test_enospc_is_a_storage_retry_and_survives_the_pool_boundary():
    exc = _enospc()
    assert exc.errno == errno.ENOSPC
    crossed = pickle.loads(pickle.dumps(exc))  # how a pool process's error reaches the worker
    for error in (exc, crossed):
        result = classify(error)
        assert result.outcome is Outcome.RETRY and result.reason == "storage"
    assert classify(PermissionError(errno.EACCES, "denied")).reason == "internal"


async def test_work_waits_through_a_full_disk_and_completes_when_room_returns(tmp_path, caplog):
    bus = InMemoryBus()
    metrics = Metrics(CollectorRegistry())
    room = asyncio.Event()
    attempts: list[str] = []
    out = tmp_path / "product.bin"

    async def handler(message: Message) -> None:
        target = out if room.is_set() else FULL
        attempts.append(target.name)
        await asyncio.to_thread(target.write_bytes, message.value * 1024)

    policy = RetryPolicy(max_attempts=2, base_s=0.01, max_s=0.05)
    consumer = Consumer(name="writer", bus=bus, topics=["work"], group="g", handler=handler, metrics=metrics,
                        deadletters=DeadLetters(bus, metrics), policy=policy)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await bus.publish("work", "k", b"data")
    await eventually(lambda: len(attempts) >= 6)  # three times max_attempts, still no dead letter
    assert not bus.records(DEADLETTER) and not out.exists()
    room.set()
    await eventually(out.exists)
    await eventually(lambda: bus.backlog("g") == 0)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not bus.records(DEADLETTER) and out.read_bytes() == b"data" * 1024
    assert attempts[-1] == out.name and set(attempts[:-1]) == {"full"}
    assert "failed on storage" in caplog.text and "until it is back" in caplog.text


def test_a_broker_that_does_not_take_a_message_is_retried_without_end():
    from services.bus import BrokerUnavailableError

    result = classify(BrokerUnavailableError("publish to streamcal.products failed: [Error -1] UnknownError"))
    assert result.outcome is Outcome.RETRY and result.reason == "broker"
    assert classify(ConnectionError("refused")).reason == "internal"  # anything else keeps its attempts
