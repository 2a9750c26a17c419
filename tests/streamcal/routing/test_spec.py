"""The run specification (streamcal/routing/spec.py): decided once from the header, carried in events, recorded
in products and read back from them without routing again."""

from __future__ import annotations

import json
import re

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
    assert RunSpec.from_header(read_header(path), CONFIG, source=path.name) == spec


def test_a_header_without_a_record_has_no_specification():
    assert RunSpec.from_header(raw_primary(), CONFIG) is None


def test_a_recorded_parameter_file_that_is_gone_gives_way_to_todays_choice():
    """A renamed or removed pars file does not orphan the products made with it: the stage gets the file the
    selectors choose now (a missing SCPARSn likewise)."""
    spec = _spec()
    renamed = {**raw_primary(), **spec.keywords(), "SCPARS2": "pars-image2pipeline-old.yaml"}
    assert RunSpec.from_header(renamed, CONFIG, source="x_cal.fits") == spec
    missing = {k: v for k, v in {**raw_primary(), **spec.keywords()}.items() if k != "SCPARS3"}
    assert RunSpec.from_header(missing, CONFIG, source="x_cal.fits") == spec


@pytest.mark.parametrize(("changes", "message"), [
    ({"SCSTAGE1": ""}, "SCSTAGE1='' is not a pipeline alias"),
    ({"SCSTAGE1": "calwebb_foo"}, "'calwebb_foo' is not a pipeline alias"),
    ({"SCSTAGE2": "CALWEBB_IMAGE2"}, "is not a pipeline alias"),
    ({"SCSTAGE2": None}, "stages are not 1, 1-2 or 1-2-3"),
    ({"SCS2IN": None}, "SCS2IN is missing"),
    ({"SCASN3": None}, "SCASN3 is missing"),
    ({"SCTSO": None}, "SCTSO is missing"),
    ({"SCPARS1": "pars-darkpipeline.yaml"}, "is a DarkPipeline file, not Detector1Pipeline's"),
])
def test_an_incomplete_or_inconsistent_record_is_invalid(changes, message):
    header = {**raw_primary(), **_spec().keywords()}
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        RunSpec.from_header(header, CONFIG, source="x_cal.fits")
