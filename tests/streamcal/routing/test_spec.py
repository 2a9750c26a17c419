"""The run specification (streamcal/routing/spec.py): decided once from the header, carried in events, recorded
in products and read back from them without routing again."""

from __future__ import annotations

import json

import pytest

from streamcal.datamodels import Extension, read_header, write_fits
from streamcal.errors import InvalidInputError
from streamcal.routing import RoutingConfig, RunSpec, decide_spec, route, select_pars
from tests.conftest import raw_primary

CONFIG = RoutingConfig.load()


def _spec(**header: object) -> RunSpec:
    return decide_spec(raw_primary(**header), table=CONFIG.table, library=CONFIG.library, source="test")


@pytest.mark.parametrize("header", [
    {},                                                        # imaging: detector1 → image2 → image3
    {"EXP_TYPE": "NRC_TSIMAGE", "TSOVISIT": True},             # TSO: rateints, tso3
    {"PATTTYPE": "WFSC"},                                      # WFS&C: image2 without resample → wfs-image3
    {"EXP_TYPE": "NRC_DARK"},                                  # calwebb_dark only
    {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_IMAGE", "FILTER": "F770W"},
])
def test_each_stage_gets_the_parameter_file_its_selectors_choose(header):
    spec = _spec(**header)
    found = route(raw_primary(**header), CONFIG.table)
    assert spec.route == found and [s.pipeline for s in spec.stages] == list(found.stages)
    for stage in spec.stages:
        chosen = select_pars(stage.pipeline, found, registry=CONFIG.table.registry, library=CONFIG.library,
                             header=raw_primary(**header))
        assert stage.pars == chosen.path.name and [s.name for s in stage.steps] == [s.name for s in chosen.steps]


def test_the_specification_survives_json_and_pickling():
    import pickle

    spec = _spec(PATTTYPE="WFSC")
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec  # it crosses the process-pool boundary
    assert spec.stage("calwebb_image2").pars == "pars-image2pipeline-wfsc.yaml"
    with pytest.raises(InvalidInputError, match="has no stage calwebb_spec2"):
        spec.stage("calwebb_spec2")


@pytest.mark.parametrize("garbage", [
    {}, {"route": {}, "stages": []}, {"route": None, "stages": []},
    {"stages": [{"pipeline": 3}]}, {"stages": "x"},
])
def test_a_malformed_specification_is_invalid_input(garbage):
    data = {"route": _spec().route.to_dict(), **garbage} if "route" not in garbage else garbage
    with pytest.raises(InvalidInputError, match="invalid"):
        RunSpec.from_dict(data)


@pytest.mark.parametrize("header", [{}, {"EXP_TYPE": "NRC_TSIMAGE", "TSOVISIT": True}, {"PATTTYPE": "WFSC"},
                                    {"EXP_TYPE": "NRC_DARK"}])
def test_a_product_records_the_specification_and_gives_it_back(tmp_path, header):
    spec = _spec(**header)
    path = write_fits(tmp_path / "p.fits", primary={**raw_primary(**header), **spec.keywords()},
                      extensions=[Extension("SCI", None)])
    assert RunSpec.from_header(read_header(path), CONFIG.library, source=path.name) == spec


def test_a_header_without_a_record_has_no_specification_and_a_foreign_pars_file_is_named():
    assert RunSpec.from_header(raw_primary(), CONFIG.library) is None
    header = {**raw_primary(), **_spec().keywords(), "SCPARS2": "pars-image2pipeline-old.yaml"}
    with pytest.raises(InvalidInputError, match=r"pars-image2pipeline-old\.yaml"):
        RunSpec.from_header(header, CONFIG.library, source="x_cal.fits")
