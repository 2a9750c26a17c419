"""route() against the seed table itself (tests/data/seed/pipeline_stages.rst), not against our YAML."""

from __future__ import annotations

import pytest

from streamcal.routing import EXTENSION_EXP_TYPES, ExpType, RoutingTable, load_routing_table, route

from .seed_table import SeedRow, load_seed, parse_routing

SEED_ROWS = parse_routing(load_seed())


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return load_routing_table()


def test_seed_lists_exactly_62_exp_types() -> None:
    assert len({row.exp_type for row in SEED_ROWS}) == 62


def test_exptype_enum_is_exactly_the_seed_and_the_marked_extensions(table: RoutingTable) -> None:
    """Issue 10: the seed's EXP_TYPEs stay exactly the seed's; the others are the rows marked ``extension``."""
    assert {e.value for e in ExpType} - set(EXTENSION_EXP_TYPES) == {row.exp_type for row in SEED_ROWS}
    assert len(ExpType) == 62 + 7
    marked = {e for rule in table.rules if rule.extension is not None for e in rule.exp_types}
    assert marked == EXTENSION_EXP_TYPES
    assert all(rule.extension for rule in table.rules if set(rule.exp_types) & EXTENSION_EXP_TYPES)


def test_yaml_routes_every_exp_type(table: RoutingTable) -> None:
    assert table.exp_types == frozenset(ExpType)


# What jwst's code does with the EXP_TYPEs its documentation's table leaves out (associations/lib/dms_base.py:
# EXPTYPE_MAP darks; ACQ_EXP_TYPES ⊂ IMAGE2_NONSCIENCE_EXP_TYPES; SPEC2_SCIENCE_EXP_TYPES and Asn_Lv3WFSSMIR for
# mir_wfss; nrc_wfsc in none of its lists).
EXTENSIONS = {
    "MIR_DARKALL": ("calwebb_dark", None, None),
    "MIR_TACONFIRM": ("calwebb_detector1", "calwebb_image2", None),
    "NRS_TACQ": ("calwebb_detector1", "calwebb_image2", None),
    "NRS_TASLIT": ("calwebb_detector1", "calwebb_image2", None),
    "NRS_VERIFY": ("calwebb_detector1", "calwebb_image2", None),
    "MIR_WFSS": ("calwebb_detector1", "calwebb_spec2", "calwebb_spec3"),
    "NRC_WFSC": ("calwebb_detector1", None, None),
}


@pytest.mark.parametrize(("exp_type", "stages"), sorted(EXTENSIONS.items()))
def test_extensions_route_as_jwst_routes_them(table: RoutingTable, exp_type: str, stages: tuple) -> None:
    for tsovisit in (False, True):  # none of them allows TSO
        result = route({"EXP_TYPE": exp_type, "TSOVISIT": tsovisit}, table)
        assert (result.stage1, result.stage2, result.stage3) == stages and not result.is_tso


def _check(table: RoutingTable, row: SeedRow, header: dict[str, object]) -> None:
    result = route({"EXP_TYPE": row.exp_type, **header}, table, source="seed.fits")
    assert (result.stage1, result.stage2, result.stage3) == (row.stage1, row.stage2, row.stage3)
    assert result.exp_type == row.exp_type
    assert result.is_tso is (row.tsovisit is True)
    assert result.is_wfsc is False


@pytest.mark.parametrize("row", SEED_ROWS, ids=lambda r: f"{r.exp_type}-TSOVISIT={r.tsovisit}")
def test_route_matches_seed(table: RoutingTable, row: SeedRow) -> None:
    if row.tsovisit is None:  # N/A: TSO not allowed; an absent or false TSOVISIT routes the same
        _check(table, row, {})
        _check(table, row, {"TSOVISIT": False})
        _check(table, row, {"TSOVISIT": "F"})
    else:
        _check(table, row, {"TSOVISIT": row.tsovisit})
        _check(table, row, {"TSOVISIT": "T" if row.tsovisit else "F"})


NA_ROWS = [row for row in SEED_ROWS if row.tsovisit is None]


@pytest.mark.parametrize("row", NA_ROWS, ids=lambda r: r.exp_type)
def test_tsovisit_true_is_ignored_where_tso_is_not_allowed(table: RoutingTable, row: SeedRow) -> None:
    result = route({"EXP_TYPE": row.exp_type, "TSOVISIT": True}, table)
    assert (result.stage1, result.stage2, result.stage3) == (row.stage1, row.stage2, row.stage3)
    assert result.tsovisit is True
    assert result.is_tso is False


ONLY_TSO = sorted(
    {r.exp_type for r in SEED_ROWS if r.tsovisit is True} - {r.exp_type for r in SEED_ROWS if r.tsovisit is False}
)


def test_always_tso_modes_are_the_seeds_true_only_rows() -> None:
    assert ONLY_TSO == ["NRC_TSGRISM", "NRC_TSIMAGE", "NRS_BRIGHTOBJ"]


@pytest.mark.parametrize("exp_type", ONLY_TSO)
@pytest.mark.parametrize("tsovisit", [None, False, "F"])
def test_always_tso_modes_ignore_tsovisit(table: RoutingTable, exp_type: str, tsovisit: object) -> None:
    header: dict[str, object] = {"EXP_TYPE": exp_type}
    if tsovisit is not None:
        header["TSOVISIT"] = tsovisit
    seed = next(r for r in SEED_ROWS if r.exp_type == exp_type)
    result = route(header, table)
    assert (result.stage1, result.stage2, result.stage3) == (seed.stage1, seed.stage2, seed.stage3)
    assert result.is_tso is True
    assert result.stage2_input == "rateints"
