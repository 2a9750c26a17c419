"""Dead letters: work that cannot complete, kept with its reason and original bytes so it can be replayed.

Every dead letter is published to ``streamcal.deadletter``. In embedded mode (the memory bus, which
forgets everything at exit) each is also written as a JSON record under ``<products>/deadletter/``. The
record's name is a function of its key, reason and original bytes, so dead-lettering the same input again
(after a restart) rewrites the same record instead of adding one.

``streamcal deadletters replay`` moves records to ``deadletter/replay/``; the next ``streamcal run``
republishes their original bytes to their source topics and deletes them. On Kafka, replay republishes
directly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from services.bus import Bus
from services.codec import decode, decode_as, encode
from services.events import DEADLETTER, DeadLetter
from services.metrics import Metrics
from streamcal.datamodels import atomic_path
from streamcal.errors import MalformedEventError

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_ORIGINAL_BYTES",
    "DeadLetterStore",
    "DeadLetters",
    "StoredDeadLetter",
    "identify",
    "make_dead_letter",
    "replay",
    "summary_line",
]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def identify(raw: bytes) -> tuple[str | None, str | None]:
    """Best-effort (exposure_id, path) of an encoded event; (None, None) if it does not decode."""
    try:
        event = decode(raw)
    except MalformedEventError:
        return None, None
    exposure_id = getattr(event, "exposure_id", None) or getattr(event, "association_id", None)
    path = getattr(event, "path", None) or getattr(event, "input_path", None) or getattr(event, "asn_path", None)
    return exposure_id, None if path is None else str(path)


#: Original messages up to this size are kept in their dead letter (base64 grows them by 4/3, and a Kafka
#: producer refuses records over 1 MB); larger ones keep their size, digest and where they were read.
MAX_ORIGINAL_BYTES = 256 * 1024
#: Error texts are cut to this many characters (an exception may quote its whole input).
MAX_ERROR_CHARS = 4000


def make_dead_letter(*, reason: str, error: str, service: str, topic: str, key: str, raw: bytes,
                     attempts: int, partition: int | None = None, offset: int | None = None) -> DeadLetter:
    """A dead letter for a message, identified as well as its bytes allow, never larger than the dead-letter
    topic can carry: a message over :data:`MAX_ORIGINAL_BYTES` keeps only its size, SHA-256 and position
    (``topic[partition]@offset``), the error text at most :data:`MAX_ERROR_CHARS`, the key 200."""
    exposure_id, path = identify(raw)
    kept = len(raw) <= MAX_ORIGINAL_BYTES
    where = None if partition is None or offset is None else f"{topic}[{partition}]@{offset}"
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + f"… ({len(error)} characters)"
    return DeadLetter(reason=reason, error=error, service=service, source_topic=topic, key=key[:200],
                      original=base64.b64encode(raw).decode("ascii") if kept else "",
                      exposure_id=None if exposure_id is None else exposure_id[:200],
                      path=None if path is None else path[:1000], attempts=attempts, original_size=len(raw),
                      original_sha256=hashlib.sha256(raw).hexdigest(), original_at=where)


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A record file and the dead letter in it."""

    path: Path
    letter: DeadLetter


class DeadLetterStore:
    """JSON records under ``<products>/deadletter/`` (embedded mode).

    Parameters
    ----------
    root : Path
        The ``deadletter`` folder (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.replay_dir = root / "replay"

    def record_name(self, letter: DeadLetter) -> str:
        """Deterministic: the same input failing for the same reason maps to the same record."""
        digest = (hashlib.sha1(letter.original.encode(), usedforsecurity=False).hexdigest()[:12] if letter.original
                  else letter.original_sha256[:12])  # kept originals name records as they always have
        return f"{_UNSAFE.sub('_', letter.key)[:120]}.{letter.reason}.{digest}.json"

    def write(self, letter: DeadLetter) -> Path:
        """Write (or rewrite) the record of a dead letter; returns its path."""
        path = self.root / self.record_name(letter)
        with atomic_path(path) as tmp:
            tmp.write_bytes(encode(letter) + b"\n")
        return path

    def _read(self, folder: Path) -> list[StoredDeadLetter]:
        out = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                out.append(StoredDeadLetter(path, decode_as(path.read_bytes(), DeadLetter)))
            except (OSError, MalformedEventError) as exc:
                log.warning("skipping unreadable dead-letter record %s: %s", path, exc)
        return out

    def records(self) -> list[StoredDeadLetter]:
        """Every record not queued for replay, by file name."""
        return self._read(self.root)

    def has(self, key: str) -> bool:
        """Whether some record has this key (the watcher skips such files at a restart)."""
        prefix = _UNSAFE.sub("_", key)[:120] + "."
        return self.root.is_dir() and any(p.name.startswith(prefix) for p in self.root.glob("*.json"))

    def queue_replay(self, records: list[StoredDeadLetter]) -> list[Path]:
        """Move records to ``replay/``; the next ``streamcal run`` republishes them."""
        self.replay_dir.mkdir(parents=True, exist_ok=True)
        moved = []
        for record in records:
            target = self.replay_dir / record.path.name
            os.replace(record.path, target)
            moved.append(target)
        return moved

    def queued(self) -> list[StoredDeadLetter]:
        """Records waiting for a replay."""
        return self._read(self.replay_dir)


class DeadLetters:
    """Sends dead letters: the topic always, the record store in embedded mode; counts them.

    Parameters
    ----------
    bus : Bus
    metrics : Metrics
    store : DeadLetterStore, optional
        Embedded mode's durable records.
    """

    def __init__(self, bus: Bus, metrics: Metrics, store: DeadLetterStore | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.store = store

    async def send(self, letter: DeadLetter) -> None:
        """Record and publish a dead letter; returns once both are durable/acknowledged.

        Raises
        ------
        OSError, ConnectionError
            The record could not be written or the publish was not acknowledged. Retriable.
        """
        if self.store is not None:
            path = await asyncio.to_thread(self.store.write, letter)
            log.warning("dead letter (%s) from %s: %s -> %s", letter.reason, letter.service, letter.error, path)
        else:
            log.warning("dead letter (%s) from %s: %s", letter.reason, letter.service, letter.error)
        await self.bus.publish(DEADLETTER, letter.key, encode(letter))
        self.metrics.deadletters.labels(reason=letter.reason).inc()


async def replay(bus: Bus, letters: list[DeadLetter]) -> int:
    """Republish the original bytes of dead letters to their source topics; returns how many. A letter whose
    original was too large to keep is skipped with a warning naming where it was read."""
    done = 0
    for letter in letters:
        if not letter.replayable:
            log.warning("dead letter %s (%s) cannot be replayed: its %d-byte original was not kept (read at %s, "
                        "sha256 %s)", letter.key, letter.reason, letter.original_size, letter.original_at,
                        letter.original_sha256)
            continue
        await bus.publish(letter.source_topic, letter.key, base64.b64decode(letter.original))
        done += 1
    return done


def summary_line(letter: DeadLetter) -> str:
    """One line for ``streamcal deadletters list``."""
    what = letter.path or letter.exposure_id or letter.key
    return json.dumps({"reason": letter.reason, "what": what, "service": letter.service,
                       "topic": letter.source_topic, "error": letter.error, "at": letter.created.isoformat()})
