"""Pipeline declarations and the plan a stage specification makes of one.

A :class:`Pipeline` is a declaration: the steps it can run (their classes, in jwst's order), the jwst steps it
records as SKIPPED because streamcal does not implement them, its own parameters, the model its first step
takes, how it runs (read the input, execute the plan, write the products) and which products it writes
(:meth:`Pipeline.outputs`). :func:`build_plan` turns a :class:`~streamcal.routing.StageSpec` (the chosen
``pars-*`` file) into an immutable :class:`Plan` of step instances:

- a step the pipeline has becomes an instance of its class with the file's parameters (a parameter the class
  does not have is a ConfigError naming the file, the step and the key);
- a step the file skips, or a jwst step streamcal does not implement, is recorded as SKIPPED with the reason;
- any other step name is a ConfigError (a misspelling), as is a step whose input no earlier step makes (a
  ramp step after ramp_fit). A step whose input would come from a step the file skips is skipped too, saying so.

Steps a pipeline's products come from (``requires``: detector1's ramp_fit) cannot be skipped. Which steps a
file may leave out is the pipeline's to declare (``unlisted_run``). For stage 1 the file is the
plan, in its order: the detector1/dark files are the instrument modes (MIRI lists firstframe, lastframe and rscd
and runs refpix after dark_current; the near-IR files list superbias), so a step a file does not list does not
run. For the other pipelines the declaration is the plan, in its order, as jwst's pipeline classes are: a step
the file does not list runs with its defaults.
:func:`streamcal.pipelines.check_pars` builds the plan of every parameter file a service may use, so a bad
file stops the service at startup instead of dead-lettering every exposure.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from streamcal.errors import ConfigError
from streamcal.routing import RunSpec, StageSpec
from streamcal.steps.base import Step, StepRecord

__all__ = [
    "PER_EXPOSURE_KEYS",
    "RAW_DIGEST_KEY",
    "NoParameters",
    "Outputs",
    "Pipeline",
    "PipelineResult",
    "Plan",
    "PlannedStep",
    "RunRequest",
    "build_plan",
    "step_io",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class NoParameters:
    """A pipeline without parameters of its own."""


class Outputs(NamedTuple):
    """The products a pipeline writes for one root (file names, in the products folder).

    ``products`` are the ones every complete run writes (the worker's "already done" test); ``next_input`` is
    the one the next stage reads; ``member`` the one that makes the exposure a member of its association.
    """

    products: tuple[str, ...]
    next_input: str | None = None
    member: str | None = None


#: The primary-header keyword every product records its raw file's content identity in (``sha256:<hex>``).
RAW_DIGEST_KEY = "SCRAWSUM"
#: Primary-header keywords of one exposure that a level-3 product, made from several, does not carry over from its
#: first member.
PER_EXPOSURE_KEYS = ("EXPOSURE", "EXPCOUNT", "PATT_NUM", "FILENAME", RAW_DIGEST_KEY)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """One pipeline run: which stage of which run specification, on what input, with which folders.

    ``overrides`` replace pipeline parameters of the stage's parameter file (``streamcal calibrate
    --save-ramp`` sets ``save_calibrated_ramp``); ``workers`` > 1 runs stage-1 tiles in that many threads and
    ``block_bytes`` sets their size (default :data:`streamcal.pipelines.tiled.DEFAULT_BLOCK_BYTES`).
    ``raw_digest``, the content identity of the raw file the work descends from, is recorded in every product
    (:data:`RAW_DIGEST_KEY`) beside the run specification. Picklable: it crosses the process-pool boundary.
    """

    pipeline: str
    input_path: Path
    spec: RunSpec
    refs_dir: Path
    out_dir: Path
    overrides: Mapping[str, object] = field(default_factory=dict)
    workers: int = 1
    block_bytes: int | None = None
    raw_digest: str | None = None

    @property
    def stage(self) -> StageSpec:
        return self.spec.stage(self.pipeline)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """The outcome of one pipeline run (picklable; crosses the process-pool boundary)."""

    alias: str
    exposure_id: str
    products: tuple[Path, ...]
    seconds: float
    steps: tuple[StepRecord, ...]

    def product(self, suffix: str) -> Path:
        """The product with this suffix (``rate``, ``rateints``, ...); KeyError if there is none."""
        for path in self.products:
            if path.name.endswith(f"_{suffix}.fits"):
                return path
        raise KeyError(f"{self.alias} wrote no _{suffix} product for {self.exposure_id}")

    def to_dict(self) -> dict[str, object]:
        return {"alias": self.alias, "exposure_id": self.exposure_id, "products": [str(p) for p in self.products],
                "seconds": round(self.seconds, 4), "steps": [s.to_dict() for s in self.steps]}


def step_io(cls: Any) -> tuple[type, type]:
    """``(consumes, produces)``: the model types of a step class, read from the annotations of its ``apply``."""
    hints = typing.get_type_hints(cls.apply)
    names = cls.apply.__code__.co_varnames[1:cls.apply.__code__.co_argcount]
    consumes = hints[names[0]]
    produces = typing.get_args(hints["return"])[0]
    return consumes, produces


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """A pipeline's declaration (see the module docstring)."""

    alias: str
    input: type
    steps: tuple[Any, ...]  # step classes
    run: Callable[[RunRequest, Plan], PipelineResult]
    outputs: Callable[[str, RunSpec], Outputs]
    not_implemented: tuple[str, ...] = ()
    parameters: type = NoParameters
    single_step: bool = False
    unlisted_run: bool = True
    requires: tuple[str, ...] = ()

    def step_class(self, name: str) -> Any:
        """The step class called ``name``, or None."""
        return next((cls for cls in self.steps if cls.name == name), None)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of a plan: its instance when it runs, else why it does not."""

    name: str
    step: Step[Any, Any] | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a pipeline will do to one input, in order (immutable).

    ``provenance`` are keywords every product of the run carries besides the steps' (the run specification's
    record, :meth:`~streamcal.routing.RunSpec.keywords`).
    """

    pipeline: str
    pars: str
    entries: tuple[PlannedStep, ...]
    parameters: Any
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def steps(self) -> tuple[Step[Any, Any], ...]:
        """The step instances that run, in order."""
        return tuple(e.step for e in self.entries if e.step is not None)

    def step(self, name: str) -> Any:
        """The instance of step ``name`` if it runs, else None."""
        return next((e.step for e in self.entries if e.name == name and e.step is not None), None)

    def runs(self, name: str) -> bool:
        return self.step(name) is not None


def _instance(cls: type, what: str, parameters: Mapping[str, object], source: str) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in parameters.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{source}: {what} has no parameter {key!r} (known: {known})")
        kwargs[key] = tuple(value) if isinstance(value, list) else value  # YAML lists: frozen dataclasses hold tuples
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {what}: {exc}") from exc


def _listed(decl: Pipeline, spec: StageSpec) -> list[PlannedStep]:
    """Each step of the parameter file, instantiated or with the reason it does not run (file order)."""
    source = spec.pars
    if decl.single_step:
        if spec.steps:
            raise ConfigError(f"{source}: {decl.alias} is a single step; its file lists parameters, not steps")
        cls = decl.steps[0]
        return [PlannedStep(cls.name, _instance(cls, f"step {cls.name}", spec.parameters, source))]
    entries = []
    for step in spec.steps:
        cls = decl.step_class(step.name)
        if cls is not None:
            entries.append(PlannedStep(step.name, reason=f"skipped by {source}") if step.skip else
                           PlannedStep(step.name, _instance(cls, f"step {step.name}", step.parameters, source)))
        elif step.name in decl.not_implemented:
            entries.append(PlannedStep(step.name, reason=f"skipped by {source}" if step.skip
                                       else "not implemented in streamcal"))
        else:
            known = [c.name for c in decl.steps] + list(decl.not_implemented)
            raise ConfigError(f"{source}: {decl.alias} has no step {step.name!r} (its steps: {', '.join(known)})")
    if not decl.unlisted_run:
        return entries
    by_name = {e.name: e for e in entries}
    ordered = [by_name.get(cls.name) or PlannedStep(cls.name, cls()) for cls in decl.steps]
    return ordered + [e for e in entries if decl.step_class(e.name) is None]  # jwst steps streamcal lacks


def _chain(decl: Pipeline, entries: list[PlannedStep], source: str) -> list[PlannedStep]:
    """Check that each running step takes what the steps before it make; skip those whose maker is skipped."""
    current = decl.input
    skipped_makers: dict[type, str] = {}
    out = []
    for entry in entries:
        cls = decl.step_class(entry.name)
        if cls is None:
            out.append(entry)
            continue
        consumes, produces = step_io(cls)
        if entry.step is None:
            if produces is not consumes:
                skipped_makers[produces] = entry.name
            out.append(entry)
        elif issubclass(current, consumes):
            current = produces
            out.append(entry)
        elif consumes in skipped_makers:
            out.append(PlannedStep(entry.name, reason=f"needs the output of {skipped_makers[consumes]}, "
                                                      "which does not run"))
        else:
            raise ConfigError(f"{source}: step {entry.name} takes a {consumes.__name__}, but the steps before it "
                              f"make a {current.__name__}")
    return out


def build_plan(decl: Pipeline, spec: StageSpec, *, overrides: Mapping[str, object] | None = None,
               provenance: Mapping[str, object] | None = None) -> Plan:
    """Instantiate the steps a stage specification (its parameter file) enables.

    ``overrides`` replace pipeline parameters; ``provenance`` becomes :attr:`Plan.provenance`.

    Raises
    ------
    ConfigError
        An unknown step, an unknown or invalid parameter, or a step whose input nothing makes. Not retriable;
        the message names the file, the step and the key.
    """
    entries = _listed(decl, spec)
    for name in decl.requires:  # the steps its products come from
        if not any(e.name == name and e.step is not None for e in entries):
            raise ConfigError(f"{spec.pars}: {decl.alias} cannot run without {name} (its products come from it)")
    own = {} if decl.single_step else spec.parameters  # a single step's file holds the step's parameters
    parameters = _instance(decl.parameters, decl.alias, {**own, **(overrides or {})}, spec.pars)
    return Plan(decl.alias, spec.pars, tuple(_chain(decl, entries, spec.pars)), parameters, dict(provenance or {}))
