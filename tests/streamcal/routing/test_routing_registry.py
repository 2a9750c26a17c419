"""PipelineRegistry against the seed's pipeline table and its two .cfg deprecation tables."""

from __future__ import annotations

import pytest

from streamcal.errors import ConfigError, UnknownPipelineError
from streamcal.routing import PipelineRegistry, load_registry

from .seed_table import load_seed, parse_cfg_modes, parse_deprecated_cfgs, parse_pipeline_classes

SEED = load_seed()
CLASSES = parse_pipeline_classes(SEED)
DEPRECATED = parse_deprecated_cfgs(SEED)
CFG_MODES = parse_cfg_modes(SEED)


@pytest.fixture(scope="module")
def registry() -> PipelineRegistry:
    return load_registry()


def test_seed_tables_were_parsed() -> None:
    assert len(CLASSES) == 11
    assert len(DEPRECATED) == 5
    assert len(CFG_MODES) == 16


def test_registry_has_exactly_the_seed_pipelines(registry: PipelineRegistry) -> None:
    assert sorted(registry.aliases) == sorted(alias for _, alias, _ in CLASSES)


@pytest.mark.parametrize(("class_name", "alias", "used_for"), CLASSES, ids=[c[1] for c in CLASSES])
def test_alias_class_round_trip(registry: PipelineRegistry, class_name: str, alias: str, used_for: str) -> None:
    assert registry.class_name(alias) == class_name
    assert registry.alias_of(class_name) == alias
    assert registry.alias_of(class_name.rpartition(".")[2]) == alias
    assert registry.alias_of(alias) == alias
    assert registry.info(alias).used_for == used_for
    assert used_for.startswith(f"Stage {registry.stage(alias)}")


@pytest.mark.parametrize(("cfg", "class_name", "alias"), DEPRECATED, ids=[d[0] for d in DEPRECATED])
def test_deprecated_cfg_names(registry: PipelineRegistry, cfg: str, class_name: str, alias: str) -> None:
    assert registry.alias_of(cfg) == alias
    assert registry.class_name(cfg) == class_name


@pytest.mark.parametrize(("class_name", "cfg", "used_for"), CFG_MODES, ids=[m[1] for m in CFG_MODES])
def test_historical_cfg_table(registry: PipelineRegistry, class_name: str, cfg: str, used_for: str) -> None:
    info = registry.info(cfg)
    assert info.class_name == class_name
    assert {m.cfg: m.used_for for m in info.modes.values()}[cfg] == used_for


@pytest.mark.parametrize(
    ("alias", "flags", "cfg"),
    [
        ("calwebb_detector1", {}, "calwebb_detector1.cfg"),
        ("calwebb_detector1", {"is_tso": True}, "calwebb_tso1.cfg"),
        ("calwebb_detector1", {"is_wfsc": True}, "calwebb_detector1.cfg"),
        ("calwebb_image2", {}, "calwebb_image2.cfg"),
        ("calwebb_image2", {"is_tso": True}, "calwebb_tso-image2.cfg"),
        ("calwebb_image2", {"is_wfsc": True}, "calwebb_wfs-image2.cfg"),
        ("calwebb_spec2", {"is_tso": True}, "calwebb_tso-spec2.cfg"),
        ("calwebb_spec2", {"nrslamp": True}, "calwebb_nrslamp-spec2.cfg"),
        ("calwebb_spec2", {}, "calwebb_spec2.cfg"),
        ("calwebb_tso3", {"is_tso": True}, "calwebb_tso3.cfg"),
        ("calwebb_wfs-image3", {"is_wfsc": True}, "calwebb_wfs-image3.cfg"),
        ("Detector1Pipeline", {"is_tso": True}, "calwebb_tso1.cfg"),
    ],
)
def test_cfg_name_per_mode(registry: PipelineRegistry, alias: str, flags: dict[str, bool], cfg: str) -> None:
    assert registry.cfg_name(alias, **flags) == cfg
    assert registry.alias_of(cfg) == registry.alias_of(alias)


@pytest.mark.parametrize(
    ("name", "reftype"),
    [
        ("calwebb_detector1", "pars-detector1pipeline"),
        ("jwst.pipeline.Image2Pipeline", "pars-image2pipeline"),
        ("calwebb_wfs-image3", "pars-wfscombinestep"),
        ("calwebb_tso-spec2.cfg", "pars-spec2pipeline"),
    ],
)
def test_pars_reftype(registry: PipelineRegistry, name: str, reftype: str) -> None:
    assert registry.pars_reftype(name) == reftype


def test_module_qualified_class_names(registry: PipelineRegistry) -> None:
    # jwst's own pars files name the defining module
    assert registry.alias_of("jwst.pipeline.calwebb_image2.Image2Pipeline") == "calwebb_image2"


@pytest.mark.parametrize("name", ["calwebb_image4", "Image4Pipeline", "calwebb_tso2.cfg", "", "jwst.pipeline.Foo"])
def test_unknown_pipeline(registry: PipelineRegistry, name: str) -> None:
    with pytest.raises(UnknownPipelineError, match=r"pipelines\.yaml") as info:
        registry.alias_of(name)
    assert repr(name) in str(info.value)
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ConfigError)
    assert name not in registry


def test_asn_types_by_mode(registry: PipelineRegistry) -> None:
    assert registry.asn_type("calwebb_detector1") is None
    assert registry.asn_type("calwebb_image2", is_tso=True) == "tso-image2"
    assert registry.asn_type("calwebb_image2", is_wfsc=True) == "image2"
    assert registry.asn_type("calwebb_spec2", nrslamp=True) == "nrslamp-spec2"
    assert registry.asn_type("calwebb_wfs-image3") == "wfs-image3"
