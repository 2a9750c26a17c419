"""Plans from parameter files (streamcal/pipelines/plan.py): every shipped file makes one, and a bad file fails
with a message naming the file, the step and the key."""

from __future__ import annotations

import dataclasses

import pytest

from streamcal.errors import ConfigError
from streamcal.models.ramp import RampBlock, RateBlock
from streamcal.pipelines import build_plan, check_pars, implemented_aliases, pipeline
from streamcal.pipelines.plan import step_io
from streamcal.routing import ParsStep, RoutingConfig, StageSpec
from streamcal.steps.combine import MosaicStep
from streamcal.steps.ramp import JumpStep, RampFitStep

CONFIG = RoutingConfig.load()


def _spec(alias: str, variant: str = "", **changes: object) -> StageSpec:
    decl = pipeline(alias)
    class_name = CONFIG.table.registry.class_name(alias)
    files = {f.path.name: f for f in CONFIG.library.for_class(class_name)}
    name = "pars-" + class_name.rpartition(".")[2].lower() + (f"-{variant}" if variant else "") + ".yaml"
    spec = StageSpec.from_pars(decl.alias, files[name])
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def _steps(*entries: tuple[str, bool, dict]) -> tuple[ParsStep, ...]:
    return tuple(ParsStep(name=n, skip=s, parameters=p) for n, s, p in entries)


def test_every_shipped_parameter_file_of_an_implemented_pipeline_makes_a_plan():
    # one per shipped file of a declared pipeline (14 before the stage-3 pipelines of issue 12)
    registry = CONFIG.table.registry
    expected = sum(1 for f in CONFIG.library.files if registry.alias_of(f.class_name) in implemented_aliases())
    assert check_pars(CONFIG) == expected >= 15


def test_steps_get_the_file_parameters_and_unimplemented_steps_are_recorded_with_the_reason():
    plan = build_plan(pipeline("calwebb_detector1"), _spec("calwebb_detector1"))
    assert isinstance(plan.step("jump"), JumpStep) and plan.step("jump").rejection_threshold == 4.0
    reasons = {e.name: e.reason for e in plan.entries if e.step is None}
    assert reasons["persistence"] == "not implemented in streamcal"
    assert reasons["ipc"] == "skipped by pars-detector1pipeline.yaml"
    assert [type(s).__name__ for s in plan.steps][-2:] == ["RampFitStep", "GainScaleStep"]
    assert plan.parameters.save_calibrated_ramp is False
    saving = build_plan(pipeline("calwebb_detector1"), _spec("calwebb_detector1"),
                        overrides={"save_calibrated_ramp": True})
    assert saving.parameters.save_calibrated_ramp is True


@pytest.mark.parametrize(("steps", "message"), [
    (_steps(("jumpp", False, {})), r"pars-detector1pipeline\.yaml: calwebb_detector1 has no step 'jumpp'"),
    (_steps(("jump", False, {"rejection_treshold": 5.0})),
     r"pars-detector1pipeline\.yaml: step jump has no parameter 'rejection_treshold'"),
    (_steps(("ramp_fit", False, {"weighting": "unweighted"})), r"ramp_fit weighting 'unweighted' is not supported"),
    (_steps(("ramp_fit", False, {}), ("jump", False, {})), r"step jump takes a RampBlock, but the steps before it make "
                                                          r"a RateBlock"),
    (_steps(("jump", False, {}), ("ramp_fit", True, {}), ("gain_scale", False, {})),
     r"calwebb_detector1 cannot run without ramp_fit \(its products come from it\)"),
])
def test_a_bad_file_is_a_config_error_naming_file_step_and_key(steps, message):
    with pytest.raises(ConfigError, match=message):
        build_plan(pipeline("calwebb_detector1"), _spec("calwebb_detector1", steps=steps))


def test_an_unknown_pipeline_parameter_is_named():
    with pytest.raises(ConfigError, match=r"calwebb_image2 has no parameter 'save_bsubb'"):
        build_plan(pipeline("calwebb_image2"), _spec("calwebb_image2", parameters={"save_bsubb": True}))


def test_stage1_runs_the_steps_its_file_lists_the_others_run_unlisted_steps_with_defaults():
    """The detector1/dark files are the instrument modes (an unlisted step does not run); image2/image3 follow
    jwst's pipeline classes (an unlisted step runs with its defaults)."""
    only_jump = build_plan(pipeline("calwebb_detector1"),
                           _spec("calwebb_detector1", steps=_steps(("jump", False, {}), ("ramp_fit", False, {}))))
    assert [e.name for e in only_jump.entries] == ["jump", "ramp_fit"]
    image3 = build_plan(pipeline("calwebb_image3"),
                        _spec("calwebb_image3", steps=_steps(("skymatch", False, {"skymethod": "global"}))))
    assert [e.name for e in image3.entries] == ["assign_mtwcs", "tweakreg", "skymatch", "outlier_detection",
                                                "resample", "source_catalog"]
    assert image3.step("skymatch").skymethod == "global" and isinstance(image3.step("resample"), MosaicStep)


def test_a_step_whose_input_comes_from_a_skipped_step_is_skipped_saying_so():
    plan = build_plan(pipeline("calwebb_image3"), _spec("calwebb_image3", steps=_steps(("resample", True, {}))))
    entries = {e.name: e for e in plan.entries}
    assert entries["resample"].reason == "skipped by pars-image3pipeline.yaml"
    assert entries["source_catalog"].step is None
    assert entries["source_catalog"].reason == "needs the output of resample, which does not run"


def test_a_single_step_pipeline_takes_the_parameters_of_its_file():
    plan = build_plan(pipeline("calwebb_wfs-image3"), _spec("calwebb_wfs-image3", parameters={"psf_size": 50}))
    assert [e.name for e in plan.entries] == ["wfs_combine"] and plan.step("wfs_combine").psf_size == 50
    with pytest.raises(ConfigError, match="a single step"):
        build_plan(pipeline("calwebb_wfs-image3"), _spec("calwebb_wfs-image3", steps=_steps(("x", False, {}))))


def test_step_models_come_from_the_annotations_of_apply():
    assert step_io(JumpStep) == (RampBlock, RampBlock)
    assert step_io(RampFitStep) == (RampBlock, RateBlock)


def test_an_alias_without_an_implementation_is_a_config_error():
    # every alias of the registry is implemented since issue 12 (calwebb_ami3 was the example before)
    with pytest.raises(ConfigError, match="no implementation of pipeline 'calwebb_nonesuch'"):
        pipeline("calwebb_nonesuch")


def test_a_pipeline_the_routing_table_uses_needs_a_parameter_file(tmp_path):
    """Else the router could not specify that stage and would dead-letter every exposure routed to it."""
    import shutil

    from streamcal.routing._config import default_config_dir

    folder = tmp_path / "configs"
    shutil.copytree(default_config_dir(), folder)
    (folder / "pars" / "pars-tso3pipeline.yaml").unlink()
    with pytest.raises(ConfigError, match=r"no parameter file for calwebb_tso3 \(pars-tso3pipeline\.yaml\)"):
        check_pars(RoutingConfig.load(folder))
