"""Service settings: the only module that reads the environment.

``main()`` builds one :class:`Settings` with :func:`load_settings` (defaults, then ``STREAMCAL_*``
environment variables, then command-line values) and passes it down; nothing reads the environment later.
An unknown ``STREAMCAL_*`` variable or a value that does not parse is a startup error (:class:`ConfigError`),
the environment's equivalent of ``extra="forbid"``.

Every duration is in seconds (``*_s``) and every size is a count; see the field list of :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamcal.errors import ConfigError

__all__ = ["ENV_PREFIX", "BusUrl", "Settings", "load_settings", "parse_bus"]

ENV_PREFIX = "STREAMCAL_"


@dataclass(frozen=True, slots=True)
class BusUrl:
    """``memory`` or ``kafka://host:port[,host:port]``."""

    kind: str
    bootstrap: str = ""

    def __str__(self) -> str:
        return "memory" if self.kind == "memory" else f"kafka://{self.bootstrap}"


def parse_bus(text: str) -> BusUrl:
    """Parse a bus URL.

    Raises
    ------
    ConfigError
        Neither ``memory`` nor ``kafka://HOST:PORT[,HOST:PORT...]``. Not retriable.
    """
    if text == "memory":
        return BusUrl("memory")
    if text.startswith("kafka://"):
        hosts = text.removeprefix("kafka://").rstrip("/")
        parts = [h for h in hosts.split(",") if h]
        if parts and all(_host_port(h) for h in parts):
            return BusUrl("kafka", ",".join(parts))
    raise ConfigError(f"bus {text!r}: expected 'memory' or 'kafka://HOST:PORT[,HOST:PORT...]'")


def _host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a service may be configured with.

    Attributes
    ----------
    ingest_dir, products_dir, refs_dir : Path or None
        Where raw files land, where products (and, embedded, dead letters) go, the reference store.
    config_dir : Path or None
        The configuration folder (``pipelines.yaml``, ``routing.yaml``, ``pars/``); None: the one shipped with
        streamcal. Every parameter file in it is checked against its pipeline's steps at startup.
    bus : str
        ``memory`` (embedded, default) or ``kafka://HOST:PORT``.
    partitions, replication : int
        For the topics created at start.
    kafka_idempotence : {"auto", "true", "false"}
        Idempotent producer: ``auto`` (default) when the broker supports it (Apache Kafka does; Tansu and some
        proxies do not: one warning, then without), ``true`` insists (start fails without it), ``false`` never.
    kafka_security_protocol : {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
    kafka_ssl_cafile, kafka_ssl_certfile, kafka_ssl_keyfile : Path or None
        TLS: the CA bundle that signs the broker's certificate (default: the system's), and the client
        certificate and key for mutual TLS.
    kafka_sasl_mechanism : {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} or None
    kafka_sasl_username, kafka_sasl_password : str or None
        SASL credentials (required with a SASL_* protocol).
    kafka_session_timeout_ms, kafka_heartbeat_ms : int
        Consumer liveness: a killed consumer's partitions move after the session timeout.
    kafka_fetch_max_wait_ms : int
        How long the broker may hold a fetch with no data (brokers that do not answer early add up to this
        much latency per hop).
    shutdown_grace_s : float
        How long SIGTERM waits for in-flight work before cancelling it (Helm's grace period is longer).
    stall_after_s : float or None
        ``/healthz`` turns unhealthy when one piece of work (a handler attempt, a watcher pass) has run this
        long: the service is stuck and should be restarted. Default: ``timeout_s`` + 300 s (a pipeline run is
        cut off at ``timeout_s``).
    metrics_port : int or None
        ``/metrics``, ``/healthz``, ``/readyz``; 0 = an ephemeral port, None = no server.
    metrics_host : str
        The address the metrics server binds: loopback by default (a laptop's ``streamcal run`` is not served to
        the network); the Helm chart sets ``0.0.0.0`` so that Prometheus and the kubelet reach the pod.
    lag_interval_s : float
        How often the consumer-lag and waiting-work gauges are sampled (off the message path).
    poll_interval_s, settle_polls, corrupt_after_s, rescan_interval_s : float, int, float, float
        Watcher: completeness-gate poll period, equal polls needed, how long a stable file that fails the
        FITS checks waits before it is passed on to be dead-lettered, the safety-net rescan period.
    force_polling : bool
        Watch by polling (network filesystems, container bind mounts).
    concurrency : int
        Worker: pipelines run at once (process pool size).
    timeout_s : float
        Worker: per-exposure limit; a stuck pipeline's process is killed and the work retried.
    max_attempts, backoff_base_s, backoff_max_s : int, float, float
        Retries of retriable errors: jittered exponential backoff, then a dead letter.
    association_deadline_s, sweep_interval_s : float
        Tracker: an incomplete association is released partially after this long; how often to check.
    mp_start : str
        Process start method of the pipeline pool (``spawn`` is safe next to an event loop and threads).
    log_level : str
    log_json : bool
        JSON log lines (default) or plain text.
    """

    ingest_dir: Path | None = None
    products_dir: Path | None = None
    refs_dir: Path | None = None
    config_dir: Path | None = None
    bus: str = "memory"
    partitions: int = 4
    replication: int = 1
    kafka_idempotence: bool | str = "auto"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_ms: int = 1_000
    kafka_fetch_max_wait_ms: int = 50
    shutdown_grace_s: float = 30.0
    stall_after_s: float | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    lag_interval_s: float = 15.0
    poll_interval_s: float = 0.5
    settle_polls: int = 2
    corrupt_after_s: float = 5.0
    rescan_interval_s: float = 60.0
    force_polling: bool = False
    concurrency: int = 2
    timeout_s: float = 1800.0
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    association_deadline_s: float = 6 * 3600.0
    sweep_interval_s: float = 5.0
    mp_start: str = "spawn"
    log_level: str = "INFO"
    log_json: bool = True

    def __post_init__(self) -> None:
        parse_bus(self.bus)
        positive = ("partitions", "replication", "settle_polls", "concurrency", "max_attempts", "timeout_s",
                    "poll_interval_s", "association_deadline_s", "sweep_interval_s", "lag_interval_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"setting {name}={getattr(self, name)!r} must be positive")
        if self.mp_start not in ("spawn", "forkserver", "fork"):
            raise ConfigError(f"setting mp_start={self.mp_start!r}: expected spawn, forkserver or fork")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"setting metrics_port={self.metrics_port} is not a port")
        self.idempotence  # noqa: B018 (validates kafka_idempotence)
        if self.kafka_security_protocol not in _PROTOCOLS:
            raise ConfigError(f"setting kafka_security_protocol={self.kafka_security_protocol!r}: expected one of "
                              f"{', '.join(_PROTOCOLS)}")
        if self.kafka_security_protocol.startswith("SASL_"):
            if self.kafka_sasl_mechanism not in _SASL_MECHANISMS:
                raise ConfigError(f"setting kafka_sasl_mechanism={self.kafka_sasl_mechanism!r}: "
                                  f"{self.kafka_security_protocol} needs one of {', '.join(_SASL_MECHANISMS)}")
            if not self.kafka_sasl_username or not self.kafka_sasl_password:
                raise ConfigError(f"{self.kafka_security_protocol} needs kafka_sasl_username and "
                                  f"kafka_sasl_password ({ENV_PREFIX}KAFKA_SASL_USERNAME, "
                                  f"{ENV_PREFIX}KAFKA_SASL_PASSWORD)")

    @property
    def idempotence(self) -> bool | None:
        """:attr:`kafka_idempotence` as the Kafka bus takes it: True, False or None (auto)."""
        value = self.kafka_idempotence
        if isinstance(value, bool):
            return value
        text = value.strip().lower()
        if text == "auto":
            return None
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise ConfigError(f"setting kafka_idempotence={value!r}: expected auto, true or false")

    @property
    def stall_limit_s(self) -> float:
        """The liveness limit: :attr:`stall_after_s`, or ``timeout_s`` + 300 s."""
        return self.stall_after_s if self.stall_after_s is not None else self.timeout_s + 300.0

    @property
    def bus_url(self) -> BusUrl:
        """The parsed :attr:`bus`."""
        return parse_bus(self.bus)

    def require(self, *names: str) -> None:
        """Raise ``ConfigError`` naming the first of ``names`` that is unset (None)."""
        for name in names:
            if getattr(self, name) is None:
                flag = "--" + name.removesuffix("_dir")
                raise ConfigError(f"{name} is not set: pass {flag} or set {ENV_PREFIX}{name.upper()}")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _convert(name: str, text: str) -> Any:
    kind = str(_FIELDS[name].type)
    try:
        if kind.startswith("Path"):
            return Path(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return lowered in ("1", "true", "yes")
        if kind.startswith("int"):
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={text!r} is not a valid {kind}") from exc
    return text


def load_settings(overrides: Mapping[str, object] | None = None, *,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults, then ``STREAMCAL_*`` variables, then ``overrides`` (None values skipped).

    Parameters
    ----------
    overrides : mapping, optional
        Field name → value, typically from the command line.
    environ : mapping, optional
        The environment to read (default: the process environment; tests pass their own).

    Raises
    ------
    ConfigError
        An unknown ``STREAMCAL_*`` variable or override, or a value that does not parse. Not retriable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for key, text in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {key}; known: {', '.join(sorted(_FIELDS))}")
        values[name] = _convert(name, text)
    for name, value in (overrides or {}).items():
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    try:
        return Settings(**values)
    except TypeError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
