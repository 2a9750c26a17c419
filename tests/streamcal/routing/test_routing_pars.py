"""Parameter files: the shipped set, selection by route and header, and load-time validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from streamcal.errors import ConfigError
from streamcal.routing import (
    ParsLibrary,
    PipelineRegistry,
    RoutingTable,
    load_pars,
    load_routing_table,
    route,
    select_pars,
    selection_context,
)
from streamcal.routing._config import default_config_dir

PARS_DIR = default_config_dir() / "pars"


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return load_routing_table()


@pytest.fixture(scope="module")
def registry(table: RoutingTable) -> PipelineRegistry:
    return table.registry


@pytest.fixture(scope="module")
def library(registry: PipelineRegistry) -> ParsLibrary:
    return load_pars(registry=registry)


def _select(alias: str, header: dict[str, object], table: RoutingTable, library: ParsLibrary) -> str:
    chosen = select_pars(alias, route(header, table), registry=table.registry, library=library, header=header)
    return chosen.path.name


def test_every_pipeline_has_a_default_file(registry: PipelineRegistry, library: ParsLibrary) -> None:
    for alias in registry.aliases:
        defaults = [f for f in library.for_class(registry.class_name(alias)) if not f.selectors]
        assert len(defaults) == 1, alias
        assert defaults[0].path.name == registry.pars_reftype(alias) + ".yaml"
        assert defaults[0].reftype == registry.pars_reftype(alias)


def test_default_directory_loads_without_arguments() -> None:
    assert load_pars().directory == PARS_DIR


@pytest.mark.parametrize(
    ("alias", "header", "expected"),
    [
        ("calwebb_image2", {"EXP_TYPE": "NRC_IMAGE"}, "pars-image2pipeline.yaml"),
        ("calwebb_image2", {"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "WFSC"}, "pars-image2pipeline-wfsc.yaml"),
        ("calwebb_image2", {"EXP_TYPE": "NIS_IMAGE", "PATTTYPE": "wfsc"}, "pars-image2pipeline-wfsc.yaml"),
        ("calwebb_image2", {"EXP_TYPE": "NRC_TSIMAGE"}, "pars-image2pipeline-tso.yaml"),
        ("calwebb_image2", {"EXP_TYPE": "MIR_IMAGE", "TSOVISIT": True}, "pars-image2pipeline-tso.yaml"),
        ("calwebb_image2", {"EXP_TYPE": "NRC_TSIMAGE", "PATTTYPE": "WFSC"}, "pars-image2pipeline-tso.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "NRC_IMAGE"}, "pars-detector1pipeline.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "WFSC"}, "pars-detector1pipeline.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "NRS_BRIGHTOBJ"}, "pars-detector1pipeline-tso.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "NIS_SOSS", "TSOVISIT": "T"}, "pars-detector1pipeline-tso.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "NIS_SOSS", "TSOVISIT": "F"}, "pars-detector1pipeline.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "MIR_IMAGE"}, "pars-detector1pipeline-miri.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "MIR_MRS"}, "pars-detector1pipeline-miri.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "MIR_IMAGE", "TSOVISIT": True}, "pars-detector1pipeline-miri-tso.yaml"),
        ("calwebb_detector1", {"EXP_TYPE": "MIR_LRS-SLITLESS", "TSOVISIT": True},
         "pars-detector1pipeline-miri-tso.yaml"),
        ("calwebb_dark", {"EXP_TYPE": "MIR_DARKIMG"}, "pars-darkpipeline-miri.yaml"),
        ("calwebb_dark", {"EXP_TYPE": "NRC_DARK"}, "pars-darkpipeline.yaml"),
        ("calwebb_guider", {"EXP_TYPE": "FGS_TRACK"}, "pars-guiderpipeline.yaml"),
        ("calwebb_spec2", {"EXP_TYPE": "NRS_IFU"}, "pars-spec2pipeline.yaml"),
        ("calwebb_image3", {"EXP_TYPE": "NRC_IMAGE"}, "pars-image3pipeline.yaml"),
        ("calwebb_wfs-image3", {"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "WFSC"}, "pars-wfscombinestep.yaml"),
        ("calwebb_tso1.cfg", {"EXP_TYPE": "NRC_TSGRISM"}, "pars-detector1pipeline-tso.yaml"),
    ],
)
def test_selection(
    table: RoutingTable, library: ParsLibrary, alias: str, header: dict[str, object], expected: str
) -> None:
    assert _select(alias, header, table, library) == expected


def test_wfsc_variant_skips_only_resample(table: RoutingTable, library: ParsLibrary) -> None:
    wfsc = select_pars("calwebb_image2", route({"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "WFSC"}, table),
                       registry=table.registry, library=library)
    assert wfsc.skipped == {"resample"}
    assert wfsc.variant == "wfsc"


def test_tso_variants_skip_what_jwst_skips(table: RoutingTable, library: ParsLibrary) -> None:
    tso = route({"EXP_TYPE": "NRC_TSIMAGE"}, table)
    image2 = select_pars("calwebb_image2", tso, registry=table.registry, library=library)
    assert {"resample", "bkg_subtract"} <= image2.skipped
    detector1 = select_pars("calwebb_detector1", tso, registry=table.registry, library=library)
    assert {"persistence", "charge_migration"} <= detector1.skipped
    plain = select_pars("calwebb_detector1", route({"EXP_TYPE": "NRC_IMAGE"}, table),
                        registry=table.registry, library=library)
    assert not {"persistence", "charge_migration"} & plain.skipped


def test_miri_detector1_step_order(table: RoutingTable, library: ParsLibrary) -> None:
    miri = select_pars("calwebb_detector1", route({"EXP_TYPE": "MIR_IMAGE"}, table),
                       registry=table.registry, library=library)
    names = [s.name for s in miri.steps]
    assert "superbias" not in names
    assert names.index("refpix") > names.index("dark_current")
    assert names.index("rscd") < names.index("dark_current")
    step = miri.step("jump")
    assert step is not None and step.parameters["rejection_threshold"] == 4.0
    assert miri.step("superbias") is None


def test_wfscombinestep_parameters(library: ParsLibrary) -> None:
    (wfs,) = library.for_class("jwst.wfs_combine.WfsCombineStep")
    assert wfs.steps == ()
    assert wfs.parameters["flip_dithers"] is True


def test_selection_context(table: RoutingTable) -> None:
    r = route({"EXP_TYPE": "NRC_TSIMAGE", "PATTTYPE": "WFSC", "VISITYPE": "prime_targeted_fixed"}, table)
    ctx = selection_context(r, {"PATTTYPE": "WFSC", "VISITYPE": "prime_targeted_fixed"})
    assert ctx == {"instrument": "NIRCAM", "exp_type": "NRC_TSIMAGE", "tsovisit": True, "patttype": None,
                   "visitype": "PRIME_TARGETED_FIXED"}


# --- validation --------------------------------------------------------------------------------------


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "pars"
    shutil.copytree(PARS_DIR, target)
    return target


def _edit(path: Path, **changes: object) -> None:
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("pars-image2pipeline.yaml", {"colour": "blue"}, r"colour: unknown key"),
        ("pars-image2pipeline.yaml", {"meta": {"selectors": {"filter": "F200W"}}}, r"meta\.selectors\.filter"),
        ("pars-image2pipeline.yaml", {"meta": {"selectors": {"exp_type": "NRC_IMAGING"}}}, r"unknown exp_type"),
        ("pars-image2pipeline.yaml", {"meta": {"selectors": {"instrument": ["MIRI", "HST"]}}},
         r"unknown instrument 'HST'"),
        ("pars-image2pipeline.yaml", {"meta": {"selectors": {"tsovisit": "T"}}}, r"tsovisit"),
        ("pars-image2pipeline.yaml", {"steps": [{"name": "resample", "skipp": True}]}, r"steps\.0\.skipp"),
        ("pars-image2pipeline.yaml", {"steps": [{"name": "resample"}, {"name": "resample"}]}, r"listed twice"),
        ("pars-image2pipeline.yaml", {"class": "jwst.pipeline.Image4Pipeline"}, r"unknown pipeline"),
        ("pars-image2pipeline.yaml", {"class": "jwst.pipeline.Image3Pipeline", "name": "Image3Pipeline"},
         r"must be named pars-image3pipeline"),
        ("pars-image2pipeline.yaml", {"name": "calwebb_image2"}, r"should be 'Image2Pipeline'"),
        ("pars-image2pipeline-tso.yaml", {"meta": {"selectors": {"patttype": "WFSC"}}},
         r"pars-image2pipeline-wfsc.yaml: same class and selectors as pars-image2pipeline-tso.yaml"),
        ("pars-image2pipeline.yaml", {"meta": {"selectors": {"exp_type": "NRC_IMAGE"}}}, r"no default"),
    ],
)
def test_bad_pars_file(tmp_path: Path, name: str, changes: dict[str, object], message: str) -> None:
    directory = _copy(tmp_path)
    _edit(directory / name, **changes)
    with pytest.raises(ConfigError, match=message) as info:
        load_pars(directory)
    assert str(directory) in str(info.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pars(tmp_path / "nope")


def test_no_file_for_class(tmp_path: Path, table: RoutingTable) -> None:
    directory = _copy(tmp_path)
    (directory / "pars-image3pipeline.yaml").unlink()
    library = load_pars(directory, registry=table.registry)
    with pytest.raises(ConfigError, match=r"no parameter file for jwst\.pipeline\.Image3Pipeline"):
        select_pars("calwebb_image3", route({"EXP_TYPE": "NRC_IMAGE"}, table), registry=table.registry,
                    library=library)


def test_equally_specific_matches_are_ambiguous(tmp_path: Path, table: RoutingTable) -> None:
    directory = _copy(tmp_path)
    _edit(directory / "pars-image2pipeline-wfsc.yaml", meta={"selectors": {"instrument": "NIRCAM"}})
    library = load_pars(directory, registry=table.registry)
    with pytest.raises(ConfigError, match="ambiguous parameter files"):
        select_pars("calwebb_image2", route({"EXP_TYPE": "NRC_TSIMAGE"}, table), registry=table.registry,
                    library=library)
