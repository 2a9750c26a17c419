"""Load-time validation of routing.yaml and pipelines.yaml: every problem is a ConfigError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streamcal.errors import ConfigError
from streamcal.routing import load_registry, load_routing_table
from streamcal.routing._config import default_config_dir

CONFIGS = default_config_dir()


def _routing(**changes: object) -> dict[str, object]:
    doc = yaml.safe_load((CONFIGS / "routing.yaml").read_text())
    doc.update(changes)
    return doc


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def _row(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {"exp_types": ["NRC_IMAGE"], "tsovisit": "any", "stage1": "calwebb_detector1",
                              "stage2": "calwebb_image2", "stage3": "calwebb_image3"}
    row.update(fields)
    return row


def test_default_paths_load() -> None:
    table = load_routing_table()
    assert table.path == CONFIGS / "routing.yaml"
    assert table.registry.source == CONFIGS / "pipelines.yaml"
    assert table.wfsc is not None and table.wfsc.stage3 == "calwebb_wfs-image3"


def test_explicit_paths_load(tmp_path: Path) -> None:
    registry = load_registry(_write(tmp_path, "p.yaml", yaml.safe_load((CONFIGS / "pipelines.yaml").read_text())))
    table = load_routing_table(_write(tmp_path, "r.yaml", _routing()), registry=registry)
    assert table.registry is registry
    assert len(table.rules) == len(load_routing_table().rules)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_routing(colour="blue"), r"colour: unknown key"),
        (_routing(rows=[_row(stage4="x")]), r"rows\.0\.stage4: unknown key"),
        (_routing(rows=[_row(exp_types=["NRC_IMAGING"])]), r"unknown EXP_TYPE 'NRC_IMAGING'"),
        (_routing(rows=[_row(exp_types=[])]), r"exp_types"),
        (_routing(rows=[_row(exp_types=["NRC_IMAGE", "NRC_IMAGE"])]), r"listed twice"),
        (_routing(rows=[_row(), _row()]), r"rows\.1: duplicate row for \(NRC_IMAGE, tsovisit=any\)"),
        (_routing(rows=[_row(tsovisit=True), _row()]), r"duplicate row for \(NRC_IMAGE, tsovisit=any\)"),
        (_routing(rows=[_row(tsovisit=True), _row(tsovisit=True)]), r"duplicate row .*tsovisit=true"),
        (_routing(rows=[_row(tsovisit=True)]), r"NRC_IMAGE has no row for tsovisit: false"),
        (_routing(rows=[_row(tsovisit="maybe")]), r"rows\.0\.tsovisit"),
        (_routing(rows=[_row(tsovisit="T")]), r"rows\.0\.tsovisit"),
        (_routing(rows=[_row(stage2="calwebb_image9")]), r"unknown pipeline alias 'calwebb_image9'"),
        (_routing(rows=[_row(stage2="calwebb_spec3")]), r"stage-3 pipeline, not stage 2"),
        (_routing(rows=[_row(stage1="calwebb_tso1.cfg")]), r"is not an alias; use 'calwebb_detector1'"),
        (_routing(rows=[_row(stage2=None)]), r"stage3 and stage2_input need a stage2"),
        (_routing(rows=[_row(always_tso=True)]), r"always_tso requires tsovisit: true"),
        (_routing(rows=[_row(always_tso=True, tsovisit=True), _row(tsovisit=False)]), r"exactly one row"),
        (_routing(rows=[_row(stage2_input="cal")]), r"stage2_input"),
        (_routing(rows=[]), r"rows"),
        (_routing(version=2), r"version"),
        (_routing(wfsc={"patttype": "WFSC"}), r"wfsc\.if_stage2"),
        (_routing(wfsc={**_routing()["wfsc"], "stage3": "calwebb_wfs-image4"}), r"wfsc: unknown pipeline"),
        ("rows: [\n", r"invalid YAML"),
        ("version: 1\nversion: 1\nrows: []\n", r"duplicate key 'version'"),
        ("- just\n- a list\n", r"<top level>"),
    ],
)
def test_bad_routing_yaml(tmp_path: Path, doc: object, message: str) -> None:
    path = _write(tmp_path, "routing.yaml", doc)
    with pytest.raises(ConfigError, match=message) as info:
        load_routing_table(path)
    assert str(path) in str(info.value)


def test_missing_routing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_routing_table(tmp_path / "nope.yaml")


def _registry(**pipeline_changes: object) -> dict[str, object]:
    doc = yaml.safe_load((CONFIGS / "pipelines.yaml").read_text())
    doc["pipelines"][0].update(pipeline_changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_registry(colour="blue"), r"pipelines\.0\.colour: unknown key"),
        (_registry(alias="calwebb_dark"), r"'calwebb_dark' is used twice"),
        (_registry(alias="Not An Alias"), r"pipelines\.0\.alias"),
        (_registry(stage=4), r"pipelines\.0\.stage"),
        (_registry(stage=2), r"needs a level-2 asn_type"),
        (_registry(modes={"tso": {"cfg": "x.cfg", "used_for": "x", "asn_type": "ami3"}}), r"must include 'default'"),
        (_registry(modes={"default": {"cfg": "calwebb_tso1.cfg", "used_for": "x", "asn_type": "ami3"}}),
         r"'calwebb_tso1.cfg' is used twice"),
        (_registry(modes={"default": {"cfg": "x.cfg", "used_for": "x", "asn_type": "image9"}}), r"asn_type"),
        (_registry(modes={"turbo": {"cfg": "x.cfg", "used_for": "x"}}), r"modes\.turbo"),
        (_registry(**{"class": "Ami3Pipeline"}), r"pipelines\.0\.class"),
    ],
)
def test_bad_registry_yaml(tmp_path: Path, doc: object, message: str) -> None:
    path = _write(tmp_path, "pipelines.yaml", doc)
    with pytest.raises(ConfigError, match=message) as info:
        load_registry(path)
    assert str(path) in str(info.value)
