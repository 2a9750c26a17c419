"""Nothing lost: every file that landed ends as products or as a dead letter — counted per test.

:func:`account` sorts the files of an ingest folder into those with products, those dead-lettered and those
lost (neither); a test asserts ``lost == 0`` and :func:`report` keeps its row, which ``conftest.py`` prints at
the end of the session ("files in / products / dead letters / lost" for each reliability test).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.ingest import eligible, file_id

__all__ = ["Accounting", "account", "report"]

REPORT_KEY = pytest.StashKey[list[tuple[str, "Accounting"]]]()


@dataclass(frozen=True, slots=True)
class Accounting:
    """Where the files that landed ended."""

    files_in: int
    with_products: int
    dead_letters: int
    lost: tuple[str, ...] = field(default=())

    def line(self) -> str:
        return (f"files in {self.files_in} / products {self.with_products} / dead letters {self.dead_letters} / "
                f"lost {len(self.lost)}" + (f" ({', '.join(self.lost)})" if self.lost else ""))


def account(ingest: Path, products: Path, dead_letter_keys: Iterable[str]) -> Accounting:
    """Sort the watched names in ``ingest`` by where they ended: a product named after the file (or, for an
    ASN or pool, the tracker's copy of it), a dead letter keyed by it, or nowhere."""
    letters = set(dead_letter_keys)
    made = {p.name for p in products.iterdir()} if products.is_dir() else set()
    declared = products / "associations"
    kept = {p.name for p in declared.iterdir()} if declared.is_dir() else set()
    files, with_products, dead, lost = 0, 0, 0, []
    for path in sorted(ingest.iterdir()):
        if not eligible(path):
            continue
        files += 1
        key = file_id(path)
        if key in letters:
            dead += 1
        elif any(name.startswith(key + "_") for name in made) or path.name in made | kept:
            with_products += 1
        else:
            lost.append(path.name)
    return Accounting(files, with_products, dead, tuple(lost))


def report(request: pytest.FixtureRequest, accounting: Accounting) -> Accounting:
    """Keep this test's row for the end-of-session report; returns ``accounting``."""
    request.config.stash.setdefault(REPORT_KEY, []).append((request.node.nodeid, accounting))
    return accounting
