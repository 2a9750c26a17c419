"""The consumer-lag and waiting-work gauges (services/lag.py) on the embedded bus, after real messages.

1. Messages published to a worker topic and not consumed are its group's lag; consuming and committing two of
   five brings it to three (commits, not deliveries, count).
2. Work parked in a ``streamcal.pending.*`` topic and the tracker's held work are ``streamcal_waiting_work``.
3. A bus that does not answer leaves the last values.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.bus import InMemoryBus
from services.events import pending_topic, work_topic
from services.lag import LagSampler, Watched
from services.metrics import Metrics
from services.worker import worker_group

ALIAS = "calwebb_image2"


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_lag_counts_what_the_group_has_not_committed():
    bus, metrics = InMemoryBus(partitions=1), Metrics(CollectorRegistry())
    topic, group = work_topic(ALIAS), worker_group(ALIAS)
    bus.create_topics([topic])
    for i in range(5):
        await bus.publish(topic, f"exp{i}", b"{}")
    sampler = LagSampler(bus=bus, metrics=metrics, groups=[Watched(group, (topic,))])
    await sampler.sample()
    assert value(metrics, "streamcal_consumer_lag", group=group, topic=topic) == 5
    async with bus.subscribe([topic], group) as sub:
        first, second, third = [await anext(sub) for _ in range(3)]
        await first.commit()
        await second.commit()
        await sampler.sample()
    assert third.offset == 2
    assert value(metrics, "streamcal_consumer_lag", group=group, topic=topic) == 3


async def test_parked_and_held_work_is_waiting_work():
    bus, metrics = InMemoryBus(), Metrics(CollectorRegistry())
    parked = pending_topic("calwebb_spec3")
    bus.create_topics([parked])
    for i in range(4):
        await bus.publish(parked, f"exp{i}", b"{}")
    sampler = LagSampler(bus=bus, metrics=metrics, groups=[], pending_topics=[parked],
                         held=lambda: {"catalog_waits": 2, "associations_open": 1})
    await sampler.sample()
    assert value(metrics, "streamcal_waiting_work", kind="pending") == 4
    assert value(metrics, "streamcal_waiting_work", kind="catalog_waits") == 2
    assert value(metrics, "streamcal_waiting_work", kind="associations_open") == 1


class _Silent(InMemoryBus):
    async def lag(self, group, topics):
        raise ConnectionError("broker away")


async def test_a_silent_broker_keeps_the_last_values(caplog: pytest.LogCaptureFixture):
    bus, metrics = _Silent(), Metrics(CollectorRegistry())
    metrics.consumer_lag.labels(group="g", topic="t").set(7)
    sampler = LagSampler(bus=bus, metrics=metrics, groups=[Watched("g", ("t",))])
    await sampler.sample()
    await sampler.sample()
    assert value(metrics, "streamcal_consumer_lag", group="g", topic="t") == 7
    assert sum("not sampled" in r.message for r in caplog.records) == 1  # said once


def test_public_names():
    import services.lag as module

    for name in module.__all__:
        assert hasattr(module, name)
