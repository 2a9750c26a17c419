"""The event-backbone subcommands of ``streamcal``: ``run``, ``serve`` and ``deadletters``.

Each reads its settings once (:func:`services.settings.load_settings`: defaults, ``STREAMCAL_*``, then the
command line), configures logging, and runs. Every option's help gives its default: the :class:`Settings`
default, which a ``STREAMCAL_*`` variable overrides and the option overrides in turn.

``streamcal run`` exits 0 when it stopped by itself, 1 if a service crashed, 130 (SIGINT) or 143 (SIGTERM)
when a signal stopped it — after a summary that says "interrupted" and what is unfinished — and 2 for a
startup error (a missing or unset folder, an unreachable broker; one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaError

from services.app import ROLES, check_broker, run_system, serve
from services.bus import KafkaBus, KafkaSecurity, kafka_security, read_topic
from services.codec import decode_as
from services.deadletters import DeadLetterStore, replay, summary_line
from services.events import DEADLETTER, DeadLetter
from services.runtime import configure_logging
from services.settings import ENV_PREFIX, BusUrl, Settings, load_settings
from streamcal.errors import ConfigError, MalformedEventError

__all__ = ["add_backbone_commands", "deadletters_command", "run_command", "serve_command"]

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


def _env(name: str, default: str | None = None) -> str:
    """"(default: $STREAMCAL_NAME, else <the Settings default>)" for an option backed by a setting."""
    value = default if default is not None else str(_DEFAULTS[name])
    return f"(default: ${ENV_PREFIX}{name.upper()}, else {value})"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ingest", type=Path, metavar="DIR", help=f"the ingest folder {_env('ingest_dir', 'none')}")
    p.add_argument("--products", type=Path, metavar="DIR",
                   help=f"the products folder; dead letters under deadletter/ {_env('products_dir', 'none')}")
    p.add_argument("--refs", type=Path, metavar="DIR",
                   help=f"the reference store, a folder with manifest.json {_env('refs_dir', 'none')}")
    p.add_argument("--config", type=Path, metavar="DIR",
                   help=f"configuration folder (pipelines.yaml, routing.yaml, pars/) {_env('config_dir', 'configs/')}")
    p.add_argument("--bus", metavar="memory|kafka://HOST:PORT",
                   help=f"the bus: memory (in this process) or a Kafka broker {_env('bus')}")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help=f"serve /metrics, /healthz, /readyz on PORT (0: any free port) {_env('metrics_port', 'none')}")
    p.add_argument("--metrics-host", metavar="ADDRESS",
                   help=f"the address the metrics server binds (0.0.0.0: every interface) {_env('metrics_host')}")
    p.add_argument("--concurrency", type=int, metavar="N",
                   help=f"pipelines run at once (process pool size) {_env('concurrency')}")
    p.add_argument("--partitions", type=int, metavar="N",
                   help=f"partitions of the topics created at start {_env('partitions')}")
    p.add_argument("--poll-interval", type=float, metavar="SECONDS",
                   help=f"watcher completeness-gate poll period {_env('poll_interval_s')}")
    p.add_argument("--force-polling", action="store_true", default=None,
                   help=f"watch by polling (NFS, bind mounts) {_env('force_polling', 'off')}")
    p.add_argument("--deadline", type=float, metavar="SECONDS",
                   help=f"association deadline before a partial release {_env('association_deadline_s')}")
    p.add_argument("--grace", type=float, metavar="SECONDS",
                   help=f"drain time on SIGINT/SIGTERM before in-flight work is cancelled {_env('shutdown_grace_s')}")


def add_backbone_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``serve`` and ``deadletters`` on the ``streamcal`` parser."""
    run = sub.add_parser("run", help="run every service in this process (embedded bus by default)",
                         description="Run every service in this process until idle (--until-idle) or SIGINT/SIGTERM, "
                                     "then print a summary of every file it saw. Exit status: 0 done, 1 a service "
                                     "crashed, 2 a startup error, 130/143 interrupted by SIGINT/SIGTERM.")
    _common(run)
    run.add_argument("--create", action="store_true",
                     help="create the ingest folder if it does not exist (default: a missing ingest folder is an "
                          "error, so that a typo does not watch an empty folder)")
    run.add_argument("--until-idle", type=float, metavar="SECONDS",
                     help="stop after SECONDS with nothing arriving, in flight or pending (default: run until "
                          "SIGINT/SIGTERM)")
    run.add_argument("--log-level", default="WARNING", help="log level (default: WARNING: progress lines only)")
    run.add_argument("--json-logs", action="store_true", help="JSON log lines instead of text (default: text)")
    srv = sub.add_parser("serve", help="run one service against Kafka (one Kubernetes Deployment)",
                         description="Run one service against a Kafka broker, as each Kubernetes Deployment does "
                                     "(the memory bus is refused: the other services are in other processes).")
    srv.add_argument("service", choices=ROLES, help="the service to run")
    srv.add_argument("--pipeline", metavar="ALIAS",
                     help="worker: the pipeline alias to run (default: none; required for worker)")
    _common(srv)
    dl = sub.add_parser("deadletters", help="list or replay dead letters")
    dl.add_argument("action", choices=("list", "replay"), help="list them, or queue them for replay")
    dl.add_argument("--products", type=Path,
                    help=f"embedded mode: the products folder {_env('products_dir', 'none')}")
    dl.add_argument("--bus", metavar="memory|kafka://HOST:PORT",
                    help=f"kafka://HOST:PORT to use the streamcal.deadletter topic {_env('bus')}")
    dl.add_argument("--reason", help="only dead letters with this reason (default: every reason)")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({
        "ingest_dir": getattr(args, "ingest", None), "products_dir": args.products,
        "refs_dir": getattr(args, "refs", None), "config_dir": getattr(args, "config", None), "bus": args.bus,
        "metrics_port": getattr(args, "metrics_port", None), "metrics_host": getattr(args, "metrics_host", None),
        "concurrency": getattr(args, "concurrency", None), "partitions": getattr(args, "partitions", None),
        "poll_interval_s": getattr(args, "poll_interval", None), "force_polling": getattr(args, "force_polling", None),
        "association_deadline_s": getattr(args, "deadline", None), "shutdown_grace_s": getattr(args, "grace", None),
    })


def _check_folders(settings: Settings, *, create: bool) -> None:
    """A missing ingest folder is an error unless ``create`` (a typo would watch an empty folder for ever); a
    missing reference store is one (every exposure would be a dead letter)."""
    assert settings.ingest_dir is not None and settings.refs_dir is not None
    if not settings.ingest_dir.is_dir():
        if not create:
            raise ConfigError(f"the ingest folder {settings.ingest_dir} does not exist: check --ingest, or pass "
                              "--create to create it and wait for files")
        settings.ingest_dir.mkdir(parents=True)
    if not settings.refs_dir.is_dir():
        raise ConfigError(f"the reference store {settings.refs_dir} does not exist: check --refs (streamcal "
                          "simulate --refs DIR writes one)")


def _broker_error(url: BusUrl, exc: KafkaError) -> ConfigError:
    return ConfigError(f"the Kafka broker at {url.bootstrap} failed: {exc}; check that it runs and that --bus (or "
                       "STREAMCAL_BUS) points at it")


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal run``: the status of :class:`services.app.RunResult` (130/143 when interrupted)."""
    settings = _settings(args)
    settings.require("ingest_dir", "products_dir", "refs_dir")
    _check_folders(settings, create=args.create)
    configure_logging(args.log_level, json_lines=args.json_logs)
    print(f"streamcal run: watching {settings.ingest_dir} on the {settings.bus_url} bus; products in "
          f"{settings.products_dir}", file=out, flush=True)
    try:
        result = asyncio.run(run_system(settings, until_idle=args.until_idle, progress=out, summary=out))
    except KafkaError as exc:
        raise _broker_error(settings.bus_url, exc) from exc
    except KeyboardInterrupt:  # before the services started, or after they stopped: nothing to summarize
        print("streamcal run: interrupted by SIGINT before the services started", file=sys.stderr)
        return 130
    if result.process.http is not None:
        print(f"(metrics were served on port {result.process.http.port})", file=out)
    return result.status


def serve_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal serve SERVICE``."""
    settings = _settings(args)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    try:
        return asyncio.run(serve(settings, args.service, pipeline=args.pipeline))
    except KafkaError as exc:
        raise _broker_error(settings.bus_url, exc) from exc


def _matches(letter: DeadLetter, reason: str | None) -> bool:
    return reason is None or letter.reason == reason


async def _kafka_letters(bootstrap: str, security: KafkaSecurity) -> list[DeadLetter]:
    letters = []
    for record in await read_topic(bootstrap, DEADLETTER, security=security):
        try:
            letters.append(decode_as(record.value, DeadLetter))
        except MalformedEventError:
            continue
    return letters


async def _kafka_replay(bootstrap: str, letters: list[DeadLetter], security: KafkaSecurity) -> int:
    async with KafkaBus(bootstrap, security=security) as bus:
        return await replay(bus, letters)


def _kafka_deadletters(args: argparse.Namespace, url: BusUrl, security: KafkaSecurity, out: TextIO) -> int:
    letters = [d for d in asyncio.run(_kafka_letters(url.bootstrap, security)) if _matches(d, args.reason)]
    if args.action == "list":
        for letter in letters:
            print(summary_line(letter), file=out)
        print(f"{len(letters)} dead letter(s) in {DEADLETTER}", file=out)
    else:
        done = asyncio.run(_kafka_replay(url.bootstrap, letters, security))
        print(f"replayed {done} dead letter(s)" + (f"; {len(letters) - done} could not be (original too large "
                                                     "to keep)" if done < len(letters) else ""), file=out)
    return 0


def deadletters_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal deadletters list|replay``."""
    settings = _settings(args)
    url = settings.bus_url
    if url.kind == "kafka":
        asyncio.run(check_broker(url))
        try:
            return _kafka_deadletters(args, url, kafka_security(settings), out)
        except KafkaError as exc:
            raise _broker_error(url, exc) from exc
    settings.require("products_dir")
    assert settings.products_dir is not None
    store = DeadLetterStore(settings.products_dir / "deadletter")
    records = [r for r in store.records() if _matches(r.letter, args.reason)]
    if args.action == "list":
        for record in records:
            print(summary_line(record.letter), file=out)
        queued = len(store.queued())
        print(f"{len(records)} dead letter(s) in {store.root}" + (f"; {queued} queued for replay" if queued else ""),
              file=out)
        return 0
    kept = [r for r in records if r.letter.replayable]
    moved = store.queue_replay(kept)
    print(f"queued {len(moved)} dead letter(s) for replay: the next `streamcal run` republishes them", file=out)
    if len(kept) < len(records):
        print(f"{len(records) - len(kept)} dead letter(s) cannot be replayed: their original message was too large "
              "to keep (the record gives its size, SHA-256 and where it was read)", file=out)
    return 0

