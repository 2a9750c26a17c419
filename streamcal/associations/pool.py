"""Association pools: the table jwst's association generator reads (jwst_spec §6).

A pool is a ``|``-separated text table, one row per exposure of a program, with a header line of column
names (case-insensitive; jwst lower-cases them) and ``#`` comment lines. The columns used here are the
exposure's header keywords (``program``, ``obs_num``, ``exp_type``, ``filter``, ...), its ``filename`` and
``asn_candidate``: the candidates the exposure belongs to, a Python-literal list of ``(id, type)`` pairs
such as ``[('o001', 'observation'), ('c1000', 'coron')]``.

Pools come from outside (upstream drops them into the ingest folder), so reading is strict about what is
used: a bounded size, a ``filename`` that is a bare ``*_uncal.fits`` name, candidate ids and types of
jwst's forms. Values are kept as jwst compares them: stripped, lower case, and ``""`` for jwst's
"not set" markers (``null``, ``none``, ``--``, ``f``, ...).
"""

from __future__ import annotations

import ast
import csv
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from streamcal.errors import PoolError

__all__ = ["MAX_POOL_BYTES", "Candidate", "Pool", "PoolRow", "parse_pool", "read_pool"]

MAX_POOL_BYTES = 64 * 1024 * 1024
"""The largest pool read (a program's pool is a few MB; anything bigger is refused, not loaded)."""

# jwst's associations.lib.dms_base._EMPTY, lower-cased.
_EMPTY = frozenset({"", "null", "--", "n", "f", "false", "n/a", "none"})
_CANDIDATE_ID = re.compile(r"^[oac]\d{3,4}$")
_CANDIDATE_TYPE = re.compile(r"^[a-z][a-z_-]{0,31}$")  # observation, group, background, mosaic, coronagraphy, ...
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}_uncal\.fits$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One association candidate an exposure belongs to: ``o001`` (observation), ``c1000`` (a cross-observation
    candidate: mosaic, coron, ami, background, group) or ``a3001`` (discovered)."""

    id: str
    type: str


@dataclass(frozen=True, slots=True)
class PoolRow:
    """One exposure of a pool."""

    line: int
    values: Mapping[str, str]
    candidates: tuple[Candidate, ...]

    def __getitem__(self, column: str) -> str:
        """The value of a column ("" when absent or not set)."""
        return self.values.get(column, "")

    def is_set(self, column: str) -> bool:
        """Whether a column has a value: jwst's test for IS_PSF, IS_IMPRT and BKGDTARG as member-type
        modifiers (any value but its "not set" markers, so ``y`` counts). A rule that asks for the value
        ``T`` (BKGDTARG of the background-target rules, TSOVISIT) compares ``row[column] == "t"``."""
        return bool(self[column])

    @property
    def filename(self) -> str:
        """The raw file's bare name (``*_uncal.fits``), as it was written (case kept)."""
        return self.values["filename"]

    @property
    def root(self) -> str:
        """The exposure root: the file name without ``_uncal.fits``."""
        return self.filename[: -len("_uncal.fits")]


@dataclass(frozen=True, slots=True)
class Pool:
    """A parsed pool: its file name and its rows in file order."""

    name: str
    rows: tuple[PoolRow, ...]
    skipped: tuple[tuple[int, str], ...] = ()
    """(line, reason) of rows that name no raw file of their own (not a bare ``*_uncal.fits`` name, or one
    listed before): never members."""

    def __iter__(self) -> Iterator[PoolRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _candidates(text: str, where: str) -> tuple[Candidate, ...]:
    if text in _EMPTY:
        return ()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise PoolError(f"{where}: asn_candidate {text[:80]!r} is not a list of (id, type) pairs") from None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        value = [value]
    if not isinstance(value, list | tuple):
        raise PoolError(f"{where}: asn_candidate {text[:80]!r} is not a list of (id, type) pairs")
    out = []
    for pair in value:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
            raise PoolError(f"{where}: asn_candidate entry {pair!r} is not an (id, type) pair")
        cid, ctype = pair[0].strip().lower(), pair[1].strip().lower()
        if not _CANDIDATE_ID.match(cid):
            raise PoolError(f"{where}: asn_candidate id {pair[0]!r} is not o###, c#### or a####")
        if not _CANDIDATE_TYPE.match(ctype):
            raise PoolError(f"{where}: asn_candidate type {pair[1]!r} is not a word")
        out.append(Candidate(cid, ctype))
    return tuple(out)


def _value(text: str | None) -> str:
    value = (text or "").strip().lower()
    return "" if value in _EMPTY else value


def parse_pool(text: str, *, name: str = "<pool>") -> Pool:
    """Parse the text of a pool.

    Raises
    ------
    PoolError
        No header line, no ``filename`` or ``asn_candidate`` column, a row with another number of columns
        than the header (a quoted cell never spans lines), a non-numeric ``program``, or a malformed
        ``asn_candidate``. The message names the pool and line. Not
        retriable. (A row whose file name is not a bare ``*_uncal.fits`` name, or repeats one, is skipped
        and reported in :attr:`Pool.skipped`.)
    """
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise PoolError(f"{name}: no header line (a pool is a '|'-separated table with column names)")
    def cells(line_no: int, line: str) -> list[str]:
        """One line is one row: a quoted cell never spans lines."""
        try:
            [row] = list(csv.reader([line], delimiter="|", quotechar='"', strict=True))
        except (csv.Error, ValueError) as exc:
            raise PoolError(f"{name}, line {line_no}: not a '|'-separated row: {exc}") from None
        return row

    header = [c.strip().lower() for c in cells(*lines[0])]
    for needed in ("filename", "asn_candidate"):
        if needed not in header:
            raise PoolError(f"{name}: no {needed!r} column (columns: {', '.join(header[:12])}...)")
    if len(set(header)) != len(header):
        raise PoolError(f"{name}: duplicate column names")
    rows: list[PoolRow] = []
    skipped: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line_no, line in lines[1:]:
        where = f"{name}, line {line_no}"
        row_cells = cells(line_no, line)
        if len(row_cells) != len(header):
            raise PoolError(f"{where}: {len(row_cells)} columns, the header has {len(header)}")
        raw = dict(zip(header, row_cells, strict=True))
        filename = raw["filename"].strip()
        if not _FILENAME.match(filename):
            skipped.append((line_no, f"filename {filename[:80]!r} is not a bare *_uncal.fits name"))
            continue
        if filename in seen:
            skipped.append((line_no, f"{filename} is already listed on line {seen[filename]}"))
            continue
        seen[filename] = line_no
        values = {k: _value(v) for k, v in raw.items() if k not in ("filename", "asn_candidate")}
        values["filename"] = filename
        if values.get("program") and not values["program"].isdigit():
            raise PoolError(f"{where}: program {values['program'][:20]!r} is not a number")
        rows.append(PoolRow(line_no, values, _candidates(raw["asn_candidate"].strip(), where)))
    return Pool(name, tuple(rows), tuple(skipped))


def read_pool(path: str | os.PathLike[str]) -> Pool:
    """Read a pool file (at most :data:`MAX_POOL_BYTES`).

    Raises
    ------
    PoolError
        Too large, not UTF-8 text, or malformed (see :func:`parse_pool`). Not retriable.
    OSError
        The file cannot be read now (storage).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_POOL_BYTES:
            raise PoolError(f"{path.name}: {size} bytes, more than the {MAX_POOL_BYTES} a pool may have")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PoolError(f"{path.name}: not UTF-8 text: {exc}") from exc
    return parse_pool(text, name=path.name)
