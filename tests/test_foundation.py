"""Issue 2's end-to-end promise: every simulated EXP_TYPE round-trips simulate → read → route (checked
against the parsed seed table, not our YAML) and opens in stdatamodels; the compact reference set serves
every simulated exposure."""

from __future__ import annotations

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

from streamcal.datamodels import open_raw, read_headers
from streamcal.references import ReferenceStore, RefType
from streamcal.routing import EXTENSION_EXP_TYPES, ExpType, load_routing_table, route
from streamcal.simulate import simulate_program, write_reference_set
from tests.streamcal.routing.seed_table import load_seed, parse_routing
from tests.streamcal.routing.test_seed_routing import EXTENSIONS

pytestmark = pytest.mark.slow  # see pyproject.toml: deselected by the fast inner loop

SEED = parse_routing(load_seed())


@pytest.fixture(scope="module")
def all_modes(tmp_path_factory):
    out = tmp_path_factory.mktemp("all_modes")
    return simulate_program("all_modes", out / "ingest", seed=11, size="small")


def _seed_row(exp_type: str, tsovisit: bool):
    rows = [r for r in SEED if r.exp_type == exp_type]
    exact = [r for r in rows if r.tsovisit is tsovisit]
    if exact:
        return exact[0]
    na = [r for r in rows if r.tsovisit is None]
    return na[0] if na else rows[0]  # a TSO-only mode routes by its True row


def test_every_exp_type_round_trips_and_routes_as_the_seed_says(all_modes):
    table = load_routing_table()
    seen = set()
    for exposure in all_modes.exposures:
        headers = read_headers(exposure.path)
        r = route(headers.primary, table, source=exposure.path.name)
        tso = bool(headers.primary.get("TSOVISIT", False))
        if r.exp_type in EXTENSION_EXP_TYPES:  # not in the seed: routed as jwst's code routes them
            assert (r.stage1, r.stage2, r.stage3) == EXTENSIONS[str(r.exp_type)], exposure.path.name
        else:
            row = _seed_row(str(headers["EXP_TYPE"]), tso)
            assert (r.stage1, r.stage2, r.stage3) == (row.stage1, row.stage2, row.stage3), exposure.path.name
        with open_raw(exposure.path) as raw:
            assert raw.shape[:2] == (headers["NINTS"] if "INTSTART" not in headers else raw.shape[0],
                                     headers["NGROUPS"])
            block = raw.ramp_block(0, min(4, raw.shape[2]))
            assert block.dtype == np.float32 and np.isfinite(block).all()
        seen.add((r.exp_type, tso))
    assert {e for e, _ in seen} == set(ExpType)
    assert {(ExpType.NIS_SOSS, True), (ExpType.NIS_SOSS, False), (ExpType.MIR_IMAGE, True)} <= seen


def test_a_sample_of_modes_opens_in_stdatamodels(all_modes):
    for exposure in all_modes.exposures[::7]:
        with dm.open(exposure.path) as model:
            assert model.meta.exposure.type == read_headers(exposure.path)["EXP_TYPE"]
            assert model.data.ndim == 4


def test_compact_reference_set_serves_the_demo_program(tmp_path):
    demo = simulate_program("demo", tmp_path / "ingest", seed=3, size="small")
    layouts = {(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"])) for e in demo.exposures}
    write_reference_set(tmp_path / "refs", only=layouts)
    store = ReferenceStore.open(tmp_path / "refs")
    for exposure in demo.exposures:
        header = read_headers(exposure.path).primary
        refs = store.for_exposure(header)
        gain = refs.require(RefType.GAIN)
        assert gain["SCI"].shape == (header["SUBSIZE2"], header["SUBSIZE1"])
        assert refs.require(RefType.DARK).header["SUBARRAY"] == header["SUBARRAY"]
        needs_bias = header["INSTRUME"] != "MIRI"
        assert (refs.get(RefType.SUPERBIAS) is not None) is needs_bias
