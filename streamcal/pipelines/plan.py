"""From a ``pars-*`` parameter file to an immutable plan of step instances.

The parameter file (selected by data, ``streamcal.routing.pars``) lists the steps in order with ``skip``
and parameters. A step we implement becomes an instance of its class with those parameters (an unknown
parameter is a ConfigError at plan time). A step the file enables but streamcal does not implement (emicorr,
reset, ipc, persistence, charge_migration, ...) is recorded as SKIPPED with the reason, so the product's S_*
keywords say honestly what ran.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from streamcal.errors import ConfigError
from streamcal.routing import ParsFile
from streamcal.steps import (
    DarkCurrentStep,
    DQInitStep,
    FirstFrameStep,
    GainScaleStep,
    GroupScaleStep,
    JumpStep,
    LastFrameStep,
    LinearityStep,
    RampFitStep,
    RefpixStep,
    RscdStep,
    SaturationStep,
    SuperbiasStep,
)
from streamcal.steps.base import RampStep

__all__ = ["RAMP_STEPS", "RATE_STEPS", "Plan", "build_plan", "step_parameters"]

P = TypeVar("P")

RAMP_STEPS: Mapping[str, type] = {
    cls.name: cls
    for cls in (GroupScaleStep, DQInitStep, SaturationStep, SuperbiasStep, RefpixStep, LinearityStep,
                DarkCurrentStep, FirstFrameStep, LastFrameStep, RscdStep, JumpStep)
}
RATE_STEPS: Mapping[str, type] = {cls.name: cls for cls in (RampFitStep, GainScaleStep)}



@dataclass(frozen=True, slots=True)
class Plan:
    """What a stage-1 pipeline will do to one exposure, in order."""

    alias: str
    pars: str
    ramp_steps: tuple[RampStep, ...]
    rate_steps: tuple[RampFitStep | GainScaleStep, ...]
    skipped: tuple[tuple[str, str], ...]
    save_ramp: bool

    @property
    def halo(self) -> int:
        """Rows of context a block needs on each side (box growth, neighbour flags)."""
        return sum(step.halo for step in self.ramp_steps)

    @property
    def fits_ramps(self) -> bool:
        return any(isinstance(s, RampFitStep) for s in self.rate_steps)


def _instance(cls: type, name: str, parameters: Mapping[str, object], source: str) -> object:
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in parameters.items():
        if key not in fields:
            raise ConfigError(f"{source}: step {name} has no parameter {key!r} (known: {sorted(fields)})")
        kwargs[key] = tuple(value) if isinstance(value, list) else value  # YAML lists: frozen dataclasses hold tuples
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{source}: step {name}: {exc}") from exc


def step_parameters(cls: type[P], pars: ParsFile, step: str) -> tuple[bool, P]:
    """``(skip, params)`` of ``step`` in a parameter file: ``cls`` (a parameter dataclass) built from the
    file's parameters, or its defaults when the file does not list the step.

    Raises
    ------
    ConfigError
        A parameter ``cls`` does not have, or one it refuses. Not retriable.
    """
    entry = pars.step(step)
    if entry is None:
        return False, cls()
    return entry.skip, _instance(cls, step, entry.parameters, pars.path.name)  # type: ignore[return-value]


def build_plan(pars: ParsFile, *, alias: str, save_ramp: bool | None = None) -> Plan:
    """Instantiate the steps a parameter file enables.

    Raises
    ------
    ConfigError
        An unknown step parameter, or ramp_fit/gain_scale listed before a ramp step. Not retriable.
    """
    ramp: list[RampStep] = []
    rate: list[RampFitStep | GainScaleStep] = []
    skipped: list[tuple[str, str]] = []
    source = pars.path.name
    for step in pars.steps:
        if step.skip:
            skipped.append((step.name, "skipped by the parameter file"))
        elif step.name in RAMP_STEPS:
            if rate:
                raise ConfigError(f"{source}: ramp step {step.name} comes after ramp_fit")
            ramp.append(_instance(RAMP_STEPS[step.name], step.name, step.parameters, source))  # type: ignore[arg-type]
        elif step.name in RATE_STEPS:
            rate.append(_instance(RATE_STEPS[step.name], step.name, step.parameters, source))  # type: ignore[arg-type]
        else:
            skipped.append((step.name, "not implemented in streamcal"))
    keep_ramp = bool(pars.parameters.get("save_calibrated_ramp", False)) if save_ramp is None else save_ramp
    return Plan(alias, source, tuple(ramp), tuple(rate), tuple(skipped), keep_ramp)
