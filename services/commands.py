"""The event-backbone subcommands of ``streamcal``: ``run``, ``serve`` and ``deadletters``.

Each reads its settings once (:func:`services.settings.load_settings`: defaults, ``STREAMCAL_*``, then the
command line), configures logging, and runs.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TextIO

from services.app import ROLES, run_system, serve
from services.bus import KafkaBus, read_topic
from services.codec import decode_as
from services.deadletters import DeadLetterStore, replay, summary_line
from services.events import DEADLETTER, DeadLetter
from services.runtime import configure_logging
from services.settings import Settings, load_settings
from streamcal.errors import MalformedEventError

__all__ = ["add_backbone_commands", "deadletters_command", "run_command", "serve_command"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ingest", type=Path, help="the ingest folder")
    p.add_argument("--products", type=Path, help="the products folder (dead letters under deadletter/)")
    p.add_argument("--refs", type=Path, help="the reference store")
    p.add_argument("--config", type=Path,
                   help="configuration folder (pipelines.yaml, routing.yaml, pars/); default: the shipped one")
    p.add_argument("--bus", help="memory (default) or kafka://HOST:PORT")
    p.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz (0 = any free port)")
    p.add_argument("--concurrency", type=int, help="pipelines run at once (process pool size)")
    p.add_argument("--partitions", type=int, help="partitions of the topics created at start")
    p.add_argument("--poll-interval", type=float, help="watcher completeness-gate poll period, seconds")
    p.add_argument("--force-polling", action="store_true", default=None, help="watch by polling (NFS, bind mounts)")
    p.add_argument("--deadline", type=float, help="association deadline before a partial release, seconds")
    p.add_argument("--grace", type=float, help="drain time on SIGTERM, seconds")


def add_backbone_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``serve`` and ``deadletters`` on the ``streamcal`` parser."""
    run = sub.add_parser("run", help="run every service in this process (embedded bus by default)")
    _common(run)
    run.add_argument("--until-idle", type=float, metavar="SECONDS",
                     help="stop after SECONDS with nothing arriving, in flight or pending")
    run.add_argument("--log-level", default="WARNING", help="log level (default WARNING: progress lines only)")
    run.add_argument("--json-logs", action="store_true", help="JSON log lines instead of text")
    srv = sub.add_parser("serve", help="run one service against Kafka (one Kubernetes Deployment)")
    srv.add_argument("service", choices=ROLES)
    srv.add_argument("--pipeline", help="worker: the pipeline alias to run")
    _common(srv)
    dl = sub.add_parser("deadletters", help="list or replay dead letters")
    dl.add_argument("action", choices=("list", "replay"))
    dl.add_argument("--products", type=Path, help="embedded mode: the products folder")
    dl.add_argument("--bus", help="kafka://HOST:PORT to use the streamcal.deadletter topic")
    dl.add_argument("--reason", help="only dead letters with this reason")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({
        "ingest_dir": getattr(args, "ingest", None), "products_dir": args.products,
        "refs_dir": getattr(args, "refs", None), "config_dir": getattr(args, "config", None), "bus": args.bus,
        "metrics_port": getattr(args, "metrics_port", None),
        "concurrency": getattr(args, "concurrency", None), "partitions": getattr(args, "partitions", None),
        "poll_interval_s": getattr(args, "poll_interval", None), "force_polling": getattr(args, "force_polling", None),
        "association_deadline_s": getattr(args, "deadline", None), "shutdown_grace_s": getattr(args, "grace", None),
    })


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal run``."""
    settings = _settings(args)
    settings.require("ingest_dir", "products_dir", "refs_dir")
    configure_logging(args.log_level, json_lines=args.json_logs)
    print(f"streamcal run: watching {settings.ingest_dir} on the {settings.bus_url} bus; products in "
          f"{settings.products_dir}", file=out, flush=True)
    result = asyncio.run(run_system(settings, until_idle=args.until_idle, progress=out, summary=out))
    if result.process.http is not None:
        print(f"(metrics were served on port {result.process.http.port})", file=out)
    return result.status


def serve_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal serve SERVICE``."""
    settings = _settings(args)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return asyncio.run(serve(settings, args.service, pipeline=args.pipeline))


def _matches(letter: DeadLetter, reason: str | None) -> bool:
    return reason is None or letter.reason == reason


async def _kafka_letters(bootstrap: str) -> list[DeadLetter]:
    letters = []
    for record in await read_topic(bootstrap, DEADLETTER):
        try:
            letters.append(decode_as(record.value, DeadLetter))
        except MalformedEventError:
            continue
    return letters


async def _kafka_replay(bootstrap: str, letters: list[DeadLetter]) -> int:
    async with KafkaBus(bootstrap) as bus:
        return await replay(bus, letters)


def deadletters_command(args: argparse.Namespace, out: TextIO) -> int:
    """``streamcal deadletters list|replay``."""
    settings = _settings(args)
    url = settings.bus_url
    if url.kind == "kafka":
        letters = [d for d in asyncio.run(_kafka_letters(url.bootstrap)) if _matches(d, args.reason)]
        if args.action == "list":
            for letter in letters:
                print(summary_line(letter), file=out)
            print(f"{len(letters)} dead letter(s) in {DEADLETTER}", file=out)
        else:
            done = asyncio.run(_kafka_replay(url.bootstrap, letters))
            print(f"replayed {done} dead letter(s)" + (f"; {len(letters) - done} could not be (original too large "
                                                         "to keep)" if done < len(letters) else ""), file=out)
        return 0
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

