"""``run_plan``: the one runner of a plan on a model — timing, skips, SKIPPED-with-reason and provenance.

Before the first step runs, every reference a running step declares (``reference_types``) is asked for, so a
missing one fails the input before any work; then steps with a ``prepare`` are prepared, in order, each
seeing the steps before it. Each step then gets the model the one before it made. A step whose input was not
made (an earlier step that changes the kind of model — resample: images → mosaic — decided to do nothing) is
recorded as SKIPPED, saying so. The stage-1 tiled executor (:mod:`streamcal.pipelines.tiled`) runs the same
plan tile by tile with the same :func:`prepare_steps` and :class:`~streamcal.pipelines.provenance.Recorder`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from streamcal.pipelines.plan import Plan, step_io
from streamcal.pipelines.provenance import Recorder
from streamcal.steps.base import Preparable

__all__ = ["PlanRun", "prepare_steps", "run_plan"]

T = TypeVar("T")


def prepare_steps(plan: Plan, ctx: Any, recorder: Recorder) -> tuple[Any, ...]:
    """The steps to apply, in order: every declared reference asked for, then each ``prepare`` run.

    Raises
    ------
    MissingReferenceError
        A running step's reference is not in the store. Not retriable.
    """
    for step in plan.steps:
        for reftype in step.reference_types:
            ctx.refs.require(reftype)
    prepared: list[Any] = []
    for step in plan.steps:
        prepared.append(recorder.prepare(step, ctx, tuple(prepared)) if isinstance(step, Preparable) else step)
    return tuple(prepared)


@dataclass(frozen=True, slots=True)
class PlanRun:
    """What running a plan made: the last model, the last model of each kind, the models kept after named
    steps, and the recorder (records and provenance keywords)."""

    model: Any
    recorder: Recorder
    by_kind: Mapping[type, Any]
    kept: Mapping[str, Any]

    def last(self, kind: type[T]) -> T | None:
        """The last model of this kind the run made (or was given); None when there was none."""
        return self.by_kind.get(kind)

    def after(self, name: str) -> Any:
        """The model step ``name`` made (only for steps listed in ``keep``; None when it did not complete)."""
        return self.kept.get(name)


def run_plan(model: Any, plan: Plan, ctx: Any, *, recorder: Recorder | None = None,
             keep: Collection[str] = ()) -> PlanRun:
    """Run every step of ``plan`` on ``model`` in order.

    Parameters
    ----------
    model
        The input model (the kind the pipeline's first step takes).
    plan : Plan
    ctx
        The context the steps read (header, references, ...).
    recorder : Recorder, optional
        A new one by default.
    keep : collection of str
        Steps whose output is kept (:meth:`PlanRun.after`), for products written from the middle of a run.
    """
    recorder = recorder if recorder is not None else Recorder(plan)
    by_kind: dict[type, Any] = {type(model): model}
    kept: dict[str, Any] = {}
    for step in prepare_steps(plan, ctx, recorder):
        consumes, _ = step_io(type(step))
        if not isinstance(model, consumes):
            recorder.skip(step.name, f"needs a {consumes.__name__}, which the steps before it did not make")
            continue
        model = recorder.run(step, model, ctx)
        by_kind[type(model)] = model
        if step.name in keep and recorder.ran(step.name):
            kept[step.name] = model
    return PlanRun(model, recorder, by_kind, kept)
