"""The embedded bus: Kafka's delivery model in one process (services/bus/memory.py, base.py)."""

from __future__ import annotations

import asyncio

import pytest

from services.bus import Faults, InMemoryBus, Watermark, partition_for
from services.consumer import next_or_stop


async def take(sub, n: int, timeout: float = 2.0):
    return [await asyncio.wait_for(sub.__anext__(), timeout) for _ in range(n)]


async def drain(sub, quiet: float = 0.1):
    """Everything the subscription delivers until it has been quiet for ``quiet`` seconds."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(sub.__anext__(), quiet))
        except TimeoutError:
            return out


async def test_keys_pick_stable_partitions_and_keep_order():
    """1. A key always lands in the same partition; one key's messages arrive in publish order."""
    bus = InMemoryBus(partitions=4)
    for i in range(5):
        await bus.publish("t", "exposure-a", f"{i}".encode())
    assert {r.partition for r in bus.records("t")} == {partition_for("exposure-a", 4)}
    async with bus.subscribe(["t"], "g") as sub:
        assert [m.value for m in await take(sub, 5)] == [b"0", b"1", b"2", b"3", b"4"]


async def test_groups_are_independent_and_members_share_partitions():
    """2. Every group sees every message; the members of one group split the partitions between them."""
    bus = InMemoryBus(partitions=4)
    keys = [f"k{i}" for i in range(40)]
    for key in keys:
        await bus.publish("t", key, key.encode())
    other = bus.subscribe(["t"], "other")
    a, b = bus.subscribe(["t"], "g"), bus.subscribe(["t"], "g")
    seen_a = {m.key for m in await drain(a)}
    seen_b = {m.key for m in await drain(b)}
    assert seen_a and seen_b and not seen_a & seen_b and seen_a | seen_b == set(keys)
    assert {m.key for m in await take(other, 40)} == set(keys)


async def test_uncommitted_messages_go_to_another_member_when_one_dies():
    """3. A member that dies with messages in hand loses them to the group, which redelivers them."""
    bus = InMemoryBus(partitions=1)
    for i in range(3):
        await bus.publish("t", "k", f"{i}".encode())
    a, b = bus.subscribe(["t"], "g"), bus.subscribe(["t"], "g")
    first, second = await take(a, 2)                    # partition 0 went to a
    await first.commit()
    await a.close()                                     # a dies with message 1 uncommitted
    redelivered = await take(b, 2)
    assert [m.value for m in redelivered] == [b"1", b"2"]
    for m in redelivered:
        await m.commit()
    assert bus.backlog("g") == 0
    await second.commit()                               # a late commit from the dead member is ignored
    assert bus.backlog("g") == 0


async def test_commits_advance_only_over_a_done_prefix():
    """4. With several messages in flight, the group offset moves over contiguous done messages only."""
    bus = InMemoryBus(partitions=1)
    for i in range(3):
        await bus.publish("t", "k", f"{i}".encode())
    sub = bus.subscribe(["t"], "g")
    m0, m1, m2 = await take(sub, 3)
    await m2.commit()
    await m1.commit()
    assert bus.backlog("g") == 3
    await m0.commit()
    assert bus.backlog("g") == 0
    mark = Watermark(10)
    for offset in (10, 11, 12):
        mark.delivered(offset)
    assert mark.done(11) is None and mark.done(10) == 12 and mark.in_flight == 1 and mark.done(99) is None


async def test_injected_publish_failures_and_latest_start():
    """5. Faults make publishes fail (retriable ConnectionError); a 'latest' group skips history."""
    bus = InMemoryBus(faults=Faults(publish_failures={"t": 1}))
    with pytest.raises(ConnectionError, match="injected"):
        await bus.publish("t", "k", b"lost")
    await bus.publish("t", "k", b"old")
    late = bus.subscribe(["t"], "late", start="latest")
    await bus.publish("t", "k", b"new")
    assert [m.value for m in await take(late, 1)] == [b"new"]


async def test_next_or_stop_returns_none_once_stopped():
    """6. A consumer waiting for messages wakes up on stop."""
    bus = InMemoryBus()
    sub = bus.subscribe(["t"], "g")
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await next_or_stop(sub, stop) is None
    await sub.close()
    assert await next_or_stop(sub, asyncio.Event()) is None
