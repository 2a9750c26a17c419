"""The ingest folder, file by file: which names count, when a file is complete, what is already done.

All of it is blocking file-system work that the watcher runs in a thread.

- :func:`eligible` — ``*_uncal.fits``, ``*_asn.json`` and ``*_pool.csv`` (an association pool) only; hidden,
  temporary and partial names (``.*``, ``*.tmp``, ``*.part``, ``*~``) never.
- :class:`Gate` — the completeness gate. There is no "file closed" event (watchfiles#345), so a file is
  complete when its signature — size, mtime, ctime and inode, so that a re-delivery keeping its mtime
  (``cp -p`` rewrites in place: a new ctime; ``rsync -a`` renames a new file in: a new inode) is a new version
  — is unchanged across ``settle_polls`` polls **and** it looks whole: a
  FITS length that is a multiple of 2880 bytes whose headers parse (SCI data included) and that has no hole
  (a file sized first and filled later is not whole until it is filled), an ASN that is
  valid JSON, or a pool that parses. A file that is stable but never looks whole (corrupt, truncated, not
  FITS) is passed on after ``corrupt_after_s`` anyway, so that the router dead-letters it with the precise
  reason: every file that lands ends as products or a dead letter.
- :func:`content_digest` — a file's content identity (SHA-256), which the router records in the work and the
  products record (:mod:`services.products`).
- :func:`finished` — whether the startup rescan may skip a file: it was already dead-lettered, or (ASN,
  pool) the tracker already took it (every association it declares is in the tracker's store,
  :func:`declared_dir`), or its stage-1 and stage-2 products exist and record this file's content
  (:func:`content_digest`; a file newer than its products is not finished without reading it). Which products
  those are comes from the run specification its products record (:meth:`RunSpec.from_header`), asked of
  the pipelines: the rescan never routes. A file without products is not finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from services.events import ExposureArrived
from services.membership import declared_dir
from services.products import route_finished
from streamcal.associations import Asn
from streamcal.associations.generator import named_associations, pool_version_id
from streamcal.associations.model import MAX_ASN_BYTES
from streamcal.associations.pool import read_pool
from streamcal.datamodels import input_root, read_header, read_headers, split_suffix
from streamcal.datamodels.fitsio import FITS_BLOCK
from streamcal.errors import StreamcalError
from streamcal.routing import RoutingConfig, RunSpec

__all__ = ["Gate", "Signature", "arrival", "content_digest", "eligible", "file_id", "file_kind", "finished",
           "looks_whole", "pool_declarations", "product_index", "signature_of", "stat_all"]

log = logging.getLogger(__name__)

FileKind = Literal["exposure", "asn", "pool"]
#: A file version as the gate sees it: (size, mtime_ns, ctime_ns, inode) of the path itself.
Signature = tuple[int, int, int, int]
_DIGEST_CHUNK = 4 * 1024 * 1024


def content_digest(path: Path) -> str:
    """``sha256:<hex>`` of a regular file's bytes, read in 4 MiB chunks (blocking: about 1 s per GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_DIGEST_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
_IGNORED_SUFFIXES = (".tmp", ".part", "~", ".swp")


def pool_declarations(path: Path) -> list[tuple[str, Asn]]:
    """The associations a pool file declares, each with its ASN file name (blocking; raises PoolError)."""
    pool = read_pool(path)
    return named_associations(pool, version_id=pool_version_id(path.name, path.stat().st_mtime_ns))


def file_kind(path: Path) -> FileKind | None:
    """``exposure`` for ``*_uncal.fits``, ``asn`` for ``*_asn.json``, ``pool`` for ``*_pool.csv``, None for
    anything else."""
    name = path.name
    if name.startswith(".") or name.endswith(_IGNORED_SUFFIXES):
        return None
    if name.endswith("_uncal.fits"):
        return "exposure"
    if name.endswith("_asn.json"):
        return "asn"
    if name.endswith("_pool.csv"):
        return "pool"
    return None


def eligible(path: Path) -> bool:
    """Whether the watcher handles this name at all."""
    return file_kind(path) is not None


def file_id(path: Path) -> str:
    """The exposure root of a raw file — its name without ``_uncal.fits``, as its products are named — else the
    file name (also the message key)."""
    return input_root(path) if file_kind(path) == "exposure" else path.name


def arrival(path: Path, size: int, mtime_ns: int) -> ExposureArrived:
    """The ``exposure.arrived`` event of one complete file version."""
    kind = file_kind(path)
    assert kind is not None
    landed = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
    return ExposureArrived(path=path, size=size, mtime_ns=mtime_ns, file_kind=kind, exposure_id=file_id(path),
                           landed_at=landed)


def looks_whole(path: Path, size: int) -> bool:
    """FITS: a multiple of 2880 bytes whose headers (and SCI extent) parse; ASN: valid JSON; pool: parses.

    Anything but a regular file (a FIFO, a device, a directory, a symbolic link) "looks whole" without being
    opened — opening a FIFO blocks, reading ``/dev/zero`` never ends — so it is passed on at once and the
    router dead-letters it (:mod:`services.confine`)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return True
    except OSError:
        return False
    if file_kind(path) == "pool":
        try:
            read_pool(path)
            return True
        except (OSError, ValueError):  # PoolError is a ValueError; a probe never raises
            return False
    if file_kind(path) == "asn":  # ASN and pool files are small: written at once
        if size > MAX_ASN_BYTES:
            return True  # never read here: the router refuses it with the reason
        try:
            json.loads(path.read_text(encoding="utf-8"))
            return True
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
    if size == 0 or size % FITS_BLOCK:
        return False
    try:
        read_headers(path)
        return not _has_hole(path, size)
    except (StreamcalError, OSError):
        return False


def _has_hole(path: Path, size: int) -> bool:
    """Whether part of a file was never written: a producer that sizes the file first (``truncate``,
    ``fallocate``) and then fills it leaves holes (unwritten extents count as holes on ext4 and xfs) until it
    is done. A file system that cannot tell reports none."""
    with open(path, "rb") as f:
        try:
            return os.lseek(f.fileno(), 0, os.SEEK_HOLE) < size
        except OSError:
            return False


@dataclass(slots=True)
class _Candidate:
    signature: Signature | None = None
    polls: int = 0
    stable_since: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Gate:
    """Candidates waiting to be complete, and the file versions already emitted.

    Attributes
    ----------
    settle_polls : int
        Consecutive polls with the same signature (size, mtime, ctime, inode) needed.
    corrupt_after_s : float
        How long a stable file that does not look whole waits before it is passed on anyway.
    """

    settle_polls: int = 2
    corrupt_after_s: float = 5.0
    candidates: dict[Path, _Candidate] = field(default_factory=dict)
    emitted: set[tuple[Path, Signature]] = field(default_factory=set)

    def consider(self, path: Path) -> None:
        """Start watching a file (no-op for ineligible names and files already watched)."""
        if eligible(path) and path not in self.candidates:
            self.candidates[path] = _Candidate()

    def settled(self, stats: Mapping[Path, Signature | None],
                now: Callable[[], float] = time.monotonic) -> list[tuple[Path, Signature]]:
        """Take one round of signatures (None: the file is gone); return the versions that have
        been stable for ``settle_polls`` polls and were never emitted. Runs on the event loop (no I/O)."""
        stable = []
        for path, signature in stats.items():
            cand = self.candidates.get(path)
            if cand is None:
                continue
            if signature is None:
                del self.candidates[path]
                continue
            if signature != cand.signature:
                cand.signature, cand.polls, cand.stable_since = signature, 1, now()
                continue
            cand.polls += 1
            version = (path, signature)
            if version in self.emitted:
                del self.candidates[path]
            elif cand.polls >= self.settle_polls:
                stable.append(version)
        return stable

    def decide(self, version: tuple[Path, Signature], whole: bool, now: Callable[[], float] = time.monotonic) -> bool:
        """Whether to emit a stable version: it looks whole, or it has been stable for ``corrupt_after_s``."""
        if whole:
            return True
        cand = self.candidates.get(version[0])
        if cand is not None and now() - cand.stable_since >= self.corrupt_after_s:
            log.warning("%s is stable but not a whole file after %.1f s: passing it on to be dead-lettered",
                        version[0].name, self.corrupt_after_s)
            return True
        return False

    def emitted_ok(self, version: tuple[Path, Signature]) -> None:
        """Record an acknowledged emission: this version is never emitted again."""
        self.emitted.add(version)
        self.candidates.pop(version[0], None)


def signature_of(st: os.stat_result) -> Signature:
    """The gate's signature of a stat result."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def stat_all(paths: Iterable[Path]) -> dict[Path, Signature | None]:
    """The signature of each path itself (a symbolic link's own, not its target's), None for a path that is
    gone (blocking: run in a thread)."""
    out: dict[Path, Signature | None] = {}
    for path in paths:
        try:
            out[path] = signature_of(os.lstat(path))
        except FileNotFoundError:
            out[path] = None
    return out


def product_index(products_dir: Path) -> dict[str, list[Path]]:
    """The FITS products of a folder by exposure root (one listing for a whole startup scan)."""
    index: dict[str, list[Path]] = {}
    try:
        paths = sorted(products_dir.glob("*.fits"))
    except OSError:
        return index
    for path in paths:
        try:
            root, _ = split_suffix(path)
        except StreamcalError:
            continue
        index.setdefault(root, []).append(path)
    return index


def _recorded_spec(products: list[Path], config: RoutingConfig) -> RunSpec | None:
    for product in products:
        try:
            spec = RunSpec.from_header(read_header(product), config, source=product.name)
        except (StreamcalError, OSError):
            continue
        if spec is not None:
            return spec
    return None


def finished(path: Path, *, products: Mapping[str, list[Path]], products_dir: Path, config: RoutingConfig,
             dead_lettered: Callable[[str], bool]) -> bool:
    """Whether the startup rescan can skip a file (see the module docstring); ``products`` is
    :func:`product_index` of ``products_dir``. Never raises."""
    kind = file_kind(path)
    if dead_lettered(file_id(path)):
        return True
    if kind == "asn":
        return (products_dir / path.name).exists() or (declared_dir(products_dir) / path.name).exists()
    if kind == "pool":
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return False  # never opened here: the router dead-letters it
            return all((declared_dir(products_dir) / name).exists() for name, _ in pool_declarations(path))
        except (OSError, ValueError):  # unreadable or malformed: the router dead-letters it with the reason
            return False
    root = file_id(path)  # products are named after the file
    spec = _recorded_spec(products.get(root, []), config)
    if spec is None:
        return False
    try:
        if not route_finished(spec, root, path, products_dir):  # times first: a newer file is not finished
            return False
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False  # never read here: the router dead-letters it
        return route_finished(spec, root, path, products_dir, digest=content_digest(path))
    except (StreamcalError, OSError):  # a stage with no implementation any more, or unreadable: route again
        return False
