"""jwst's own association generator is the oracle for ours (issue 10).

For every pool shipped in the jwst wheel (``jwst/associations/tests/data``: program 99009's hand-made pools,
the NIRCam coronagraphy and WFS&C pools, the merged mega pool, ...), jwst's operational per-candidate
generator (``generate_per_candidate`` with the level-3 rules, as ``asn_generate`` runs it) and ours run on
the same rows — ours reads the pool as jwst writes it to disk — and must give the same associations of
every type streamcal generates: same candidate, same product name, same members with the same member
types. Then the release moment: the pool's exposures finish stage 2 one by one in pool order, and each of
jwst's associations must be released by our ledger exactly when its last member finishes — never before.

The one kind of difference allowed is the one streamcal makes on purpose: exposure identity is the file
name, so a pool row repeating another row's file name (the merged mega pool repeats names across its source
pools with different EXP_TYPEs) is skipped; an association that differs only through such rows is not held
against the generator, and every such difference must involve a repeated name.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from streamcal.associations import Asn
from streamcal.associations.generator import GENERATED_TYPES, generate
from streamcal.associations.ledger import Ledger, member_names
from streamcal.associations.pool import read_pool
from streamcal.errors import PoolError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import jwst.associations.tests as jwst_asn_tests
    from jwst.associations.generator.generate_per_candidate import generate_per_candidate
    from jwst.associations.tests import helpers as jwst_helpers

POOL_DIR = Path(jwst_asn_tests.__file__).parent / "data"
SLOW_POOLS = {"mega_pool.csv", "pool_001_candidates.csv", "pool_001_candidates_lower.csv", "pool_004_wfs.csv",
              "pool_013_coron_nircam.csv"}  # jwst needs 2-20 s each
TYPES = {str(t) for t in GENERATED_TYPES}

Signature = tuple[str, str, str, tuple[tuple[str, str], ...]]


def _pools() -> list[object]:
    out = []
    for path in sorted(POOL_DIR.glob("*.csv")):
        marks = [pytest.mark.slow] if path.name in SLOW_POOLS else []
        out.append(pytest.param(path.name, marks=marks, id=path.stem))
    return out


@cache
def _jwst(pool_name: str) -> tuple[object, list[dict]]:
    """jwst's pool table and its level-3 associations (as dicts), generated once per pool."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = jwst_helpers.combine_pools(str(POOL_DIR / pool_name))
        if "asn_candidate" not in table.colnames:
            return table, []
        asns = generate_per_candidate(table, [jwst_helpers.level3_rule_path()], ignore_default=True,
                                      all_candidates=True, discover=False)
        docs = []
        for asn in asns:
            _, text = asn.dump(format="json")
            docs.append(json.loads(text))
    return table, docs


def _ours(pool_name: str, tmp_path: Path) -> list[Asn]:
    table, _ = _jwst(pool_name)
    path = tmp_path / pool_name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(str(path), format="ascii", delimiter="|", overwrite=True)  # as asn_generate reads it
    return generate(read_pool(path))


def _signature(doc: dict) -> Signature:
    product = doc["products"][0]
    members = tuple(sorted((m["expname"], m["exptype"]) for m in product["members"]))
    return doc["asn_type"], doc["asn_id"], product["name"], members


def _repeated_roots(table: object) -> set[str]:
    names = Counter(str(n) for n in table["filename"])  # type: ignore[index]
    return {n.removesuffix("_uncal.fits") for n, count in names.items() if count > 1}


def _involves(signature: Signature, roots: set[str]) -> bool:
    return any(expname.rsplit("_", 1)[0] in roots for expname, _ in signature[3])


@pytest.mark.parametrize("pool_name", _pools())
def test_same_associations_as_jwst(pool_name: str, tmp_path: Path) -> None:
    table, docs = _jwst(pool_name)
    if "asn_candidate" not in table.colnames:  # type: ignore[attr-defined]
        # a pool from before candidates existed: neither generator makes anything of it per candidate
        with pytest.raises(PoolError, match="no 'asn_candidate' column"):
            _ours(pool_name, tmp_path)
        return
    theirs = Counter(_signature(d) for d in docs if d["asn_type"] in TYPES)
    ours = Counter(_signature(a.to_dict()) for a in _ours(pool_name, tmp_path))
    repeated = _repeated_roots(table)
    missing = [s for s in theirs if s not in ours and not _involves(s, repeated)]
    extra = [s for s in ours if s not in theirs and not _involves(s, repeated)]
    assert not missing, f"{len(missing)} of jwst's associations not reproduced, e.g. {missing[:2]}"
    assert not extra, f"{len(extra)} associations jwst does not make, e.g. {extra[:2]}"
    if not repeated:
        assert ours == theirs


@pytest.mark.parametrize("pool_name", _pools())
def test_released_exactly_when_the_last_member_finishes(pool_name: str, tmp_path: Path) -> None:
    table, docs = _jwst(pool_name)
    if "asn_candidate" not in table.colnames:  # type: ignore[attr-defined]
        return
    ours = _ours(pool_name, tmp_path)
    ledger = Ledger()
    for i, asn in enumerate(ours):
        assert not ledger.declare(f"k{i}", asn)
    by_signature = {_signature(a.to_dict()): f"k{i}" for i, a in enumerate(ours)}
    # stage 2 finishes in pool order; every member file of every association is some row's product
    order: list[str] = []
    for asn in ours:
        for name in member_names(asn):
            if name not in order:
                order.append(name)
    rows = [str(n).removesuffix("_uncal.fits") for n in table["filename"]]  # type: ignore[index]
    order.sort(key=lambda name: rows.index(name.rsplit("_", 1)[0]))
    released_at: dict[str, int] = {}
    for step, name in enumerate(order):
        for key in ledger.done(name):
            assert key not in released_at, f"{key} released twice"
            released_at[key] = step
    assert set(released_at) == set(by_signature.values()), "every declared association is released once"
    repeated = _repeated_roots(table)
    for doc in docs:
        signature = _signature(doc)
        if doc["asn_type"] not in TYPES or _involves(signature, repeated):
            continue
        last = max(order.index(expname) for expname, _ in signature[3])
        assert released_at[by_signature[signature]] == last, f"{signature[2]} released early or late"
