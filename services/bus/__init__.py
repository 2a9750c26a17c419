"""The event bus: one protocol (:class:`Bus`), an embedded implementation and Kafka.

Services only see :class:`Bus`, :class:`Subscription` and :class:`Message`; :func:`make_bus` picks the
implementation from the bus URL (``memory`` or ``kafka://HOST:PORT``).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.bus.base import BrokerUnavailableError, Bus, Message, StartFrom, Subscription, Watermark
from services.bus.kafka import KafkaBus, KafkaSecurity, KafkaSubscription, read_topic
from services.bus.memory import Faults, InMemoryBus, MemorySubscription, Record, partition_for
from services.settings import Settings

__all__ = [
    "BrokerUnavailableError",
    "Bus",
    "Faults",
    "InMemoryBus",
    "KafkaBus",
    "KafkaSecurity",
    "KafkaSubscription",
    "MemorySubscription",
    "Message",
    "Record",
    "StartFrom",
    "Subscription",
    "Watermark",
    "kafka_security",
    "make_bus",
    "partition_for",
    "read_topic",
]


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The TLS/SASL settings of the Kafka clients."""
    return KafkaSecurity(protocol=settings.kafka_security_protocol, cafile=settings.kafka_ssl_cafile,
                         certfile=settings.kafka_ssl_certfile, keyfile=settings.kafka_ssl_keyfile,
                         sasl_mechanism=settings.kafka_sasl_mechanism, sasl_username=settings.kafka_sasl_username,
                         sasl_password=settings.kafka_sasl_password)


def make_bus(settings: Settings, topics: Sequence[str], *, client_id: str = "streamcal") -> Bus:
    """The bus the settings name, with ``topics`` created at start."""
    url = settings.bus_url
    if url.kind == "memory":
        bus = InMemoryBus(partitions=settings.partitions)
        bus.create_topics(topics)
        return bus
    max_poll_ms = max(300_000, int((settings.timeout_s + 60.0) * 1000))
    return KafkaBus(url.bootstrap, topics=topics, partitions=settings.partitions,
                    replication=settings.replication, idempotence=settings.idempotence,
                    session_timeout_ms=settings.kafka_session_timeout_ms,
                    heartbeat_ms=settings.kafka_heartbeat_ms, max_poll_interval_ms=max_poll_ms,
                    fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
                    client_id=client_id, security=kafka_security(settings))
