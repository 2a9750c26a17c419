"""The one runner (streamcal/pipelines/runner.py) and the one recorder (provenance.py), on small hand-made steps:
references are asked for before any step runs, a step whose input was not made is skipped saying so, products
can be taken from the middle of a run, and the records and keywords follow the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from streamcal.errors import MissingReferenceError
from streamcal.pipelines.plan import NoParameters, Plan, PlannedStep
from streamcal.pipelines.provenance import Recorder
from streamcal.pipelines.runner import run_plan
from streamcal.references import RefType
from streamcal.steps import Context, NoReferences, StepOutcome, StepStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Log(Context):
    """A context that remembers which steps were applied (the steps themselves stay pure)."""

    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Number:
    value: int


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddStep:
    name: ClassVar[str] = "group_scale"  # a name with an S_* keyword
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    amount: int = 1

    def apply(self, model: Number, ctx: Log) -> StepOutcome[Number]:
        ctx.applied.append(self.name)
        return StepOutcome(Number(model.value + self.amount), StepStatus.COMPLETE, counts={"added": self.amount})


@dataclass(frozen=True, slots=True, kw_only=True)
class FormatStep:
    """Changes the kind of model, or declines (negative numbers), as resample declines on a cube."""

    name: ClassVar[str] = "resample"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, model: Number, ctx: Log) -> StepOutcome[Text]:
        ctx.applied.append(self.name)
        if model.value < 0:
            return StepOutcome.skipped(model, "negative")  # type: ignore[arg-type]
        return StepOutcome(Text(str(model.value)), StepStatus.COMPLETE, note="formatted")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoutStep:
    name: ClassVar[str] = "source_catalog"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, model: Text, ctx: Log) -> StepOutcome[Text]:
        ctx.applied.append(self.name)
        return StepOutcome(Text(model.value + "!"), StepStatus.COMPLETE)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatNeedingStep:
    name: ClassVar[str] = "flat_field"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.FLAT,)

    def apply(self, model: Text, ctx: Log) -> StepOutcome[Text]:
        ctx.applied.append(self.name)
        return StepOutcome(model, StepStatus.COMPLETE)


def _plan(*steps: object, skipped: tuple[tuple[str, str], ...] = ()) -> Plan:
    entries = [PlannedStep(s.name, s) for s in steps] + [PlannedStep(n, reason=r) for n, r in skipped]  # type: ignore[attr-defined]
    return Plan("calwebb_test", "pars-test.yaml", tuple(entries), NoParameters(), {"SCSTAGE1": "calwebb_test"})


def _ctx() -> Log:
    return Log(header={}, refs=NoReferences())


def test_steps_chain_their_models_and_the_run_keeps_what_was_asked():
    ctx = _ctx()
    run = run_plan(Number(1), _plan(AddStep(amount=2), FormatStep(), ShoutStep()), ctx, keep=("group_scale",))
    assert run.model == Text("3!") and run.last(Number) == Number(3) and run.last(Text) == Text("3!")
    assert run.after("group_scale") == Number(3) and run.after("resample") is None  # not kept
    assert ctx.applied == ["group_scale", "resample", "source_catalog"]


def test_a_step_whose_input_was_not_made_is_skipped_saying_so():
    ctx = _ctx()
    run = run_plan(Number(-5), _plan(FormatStep(), ShoutStep()), ctx)
    assert run.model == Number(-5) and run.last(Text) is None
    records = {r.name: r for r in run.recorder.records()}
    assert records["resample"].status is StepStatus.SKIPPED and records["resample"].note == "negative"
    assert records["source_catalog"].status is StepStatus.SKIPPED
    assert "needs a Text" in records["source_catalog"].note and ctx.applied == ["resample"]


def test_every_declared_reference_is_asked_for_before_the_first_step_runs():
    ctx = _ctx()
    with pytest.raises(MissingReferenceError, match="flat"):
        run_plan(Number(1), _plan(AddStep(), FormatStep(), FlatNeedingStep()), ctx)
    assert ctx.applied == []


def test_records_follow_the_plan_and_keywords_can_stop_before_a_step():
    rec = Recorder(_plan(AddStep(), FormatStep(), skipped=(("persistence", "not implemented in streamcal"),)))
    run = run_plan(Number(1), rec.plan, _ctx(), recorder=rec)
    records = run.recorder.records()
    assert [(r.name, r.status) for r in records] == [("group_scale", StepStatus.COMPLETE),
                                                     ("resample", StepStatus.COMPLETE),
                                                     ("persistence", StepStatus.SKIPPED)]
    assert records[0].counts == {"added": 1} and records[1].note == "formatted"
    assert records[2].note == "not implemented in streamcal"
    everything = rec.keywords()
    assert everything["S_GRPSCL"] == everything["S_RESAMP"] == "COMPLETE" and everything["S_PERSIS"] == "SKIPPED"
    assert everything["PIPELINE"] == "calwebb_test" and everything["PARSFILE"] == "pars-test.yaml"
    assert everything["SCSTAGE1"] == "calwebb_test"  # the plan's provenance (the run specification's record)
    before = rec.keywords(before="resample")
    assert "S_GRPSCL" in before and "S_RESAMP" not in before and "S_PERSIS" not in before
