"""Parameter files (``pars-*``) and their selection by data, without CRDS.

In jwst, how a pipeline runs for a given exposure is decided by a CRDS parameter reference of reftype
``pars-<lower-cased class name>`` selected by header keywords (jwst_spec §8). We ship those files in
``configs/pars/`` as YAML named ``pars-<classname>[-<variant>].yaml``::

    class: jwst.pipeline.Image2Pipeline
    name: Image2Pipeline
    meta:
      description: WFS&C imaging - no resample
      selectors: {patttype: WFSC}
    parameters: {}
    steps:
      - {name: resample, skip: true}

A file matches an exposure when **all** its selectors match; among matching files of a class the one with
the **most** selectors wins (a file without selectors is the default every class must have). Selectors:

``instrument``, ``exp_type``
    One value or a list of values.
``tsovisit``
    Compared with ``Route.is_tso`` (so NRC_TSIMAGE gets TSO parameters whatever its TSOVISIT says).
``patttype``, ``visitype``
    One value or a list, compared case-insensitively with the header keyword; ``patttype: WFSC`` matches
    exactly the exposures the router marked ``is_wfsc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pydantic import Field, JsonValue, StrictBool, ValidationInfo, field_validator

from streamcal.errors import ConfigError
from streamcal.models.keywords import header_str
from streamcal.routing._config import StrictModel, default_config_dir, load_model
from streamcal.routing.exptypes import ExpType, Instrument, instrument_of
from streamcal.routing.registry import PipelineRegistry
from streamcal.routing.route import Route
from streamcal.routing.table import load_registry

__all__ = ["ParsFile", "ParsLibrary", "ParsStep", "load_pars", "select_pars", "selection_context"]

_CHOICES: dict[str, frozenset[str]] = {
    "instrument": frozenset(Instrument),
    "exp_type": frozenset(ExpType),
}


class _SelectorsModel(StrictModel):
    instrument: tuple[str, ...] | None = None
    exp_type: tuple[str, ...] | None = None
    tsovisit: StrictBool | None = None
    patttype: tuple[str, ...] | None = None
    visitype: tuple[str, ...] | None = None

    @field_validator("instrument", "exp_type", "patttype", "visitype", mode="before")
    @classmethod
    def _one_or_many(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name or ""
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("expected a string or a non-empty list of strings")
        values = [v.strip().upper() for v in values]
        unknown = [v for v in values if name in _CHOICES and v not in _CHOICES[name]]
        if unknown:
            raise ValueError(f"unknown {name} {', '.join(map(repr, unknown))}")
        return tuple(values)


class _MetaModel(StrictModel):
    description: str | None = None
    selectors: _SelectorsModel = _SelectorsModel()


class _StepModel(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    skip: StrictBool = False
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


class _ParsModel(StrictModel):
    class_name: str = Field(alias="class")
    name: str
    meta: _MetaModel = _MetaModel()
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    steps: list[_StepModel] = Field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsStep:
    """The parameters a pipeline gives one of its steps."""

    name: str
    skip: bool
    parameters: Mapping[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsFile:
    """One validated parameter file."""

    path: Path
    class_name: str
    name: str
    variant: str | None
    description: str | None
    selectors: Mapping[str, tuple[str, ...] | bool]
    parameters: Mapping[str, object]
    steps: tuple[ParsStep, ...]

    @property
    def reftype(self) -> str:
        """The CRDS reftype, e.g. ``pars-image2pipeline``."""
        return "pars-" + self.name.lower()

    @property
    def skipped(self) -> frozenset[str]:
        """The names of the steps this file skips."""
        return frozenset(step.name for step in self.steps if step.skip)

    def step(self, name: str) -> ParsStep | None:
        """Return the entry for step ``name``, or None when the file does not list it."""
        return next((step for step in self.steps if step.name == name), None)

    def matches(self, context: Mapping[str, object]) -> bool:
        """Return whether every selector matches ``context`` (see :func:`selection_context`)."""
        for key, wanted in self.selectors.items():
            value = context.get(key)
            if isinstance(wanted, bool):
                if value is not wanted:
                    return False
            elif value not in wanted:
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsLibrary:
    """Every parameter file of a directory, validated."""

    directory: Path
    files: tuple[ParsFile, ...]

    def for_class(self, class_name: str) -> tuple[ParsFile, ...]:
        """Return the files for one (fully qualified) class."""
        return tuple(f for f in self.files if f.class_name == class_name)


def _to_pars_file(path: Path, model: _ParsModel, registry: PipelineRegistry) -> ParsFile:
    try:
        info = registry.info(model.class_name)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    reftype = "pars-" + info.short_name.lower()
    stem = path.name.removesuffix(".yaml")
    if stem != reftype and not stem.startswith(reftype + "-"):
        raise ConfigError(f"{path}: a file for {info.class_name} must be named {reftype}[-<variant>].yaml")
    if model.name != info.short_name:
        raise ConfigError(f"{path}: name {model.name!r} should be {info.short_name!r}")
    names = [step.name for step in model.steps]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: a step is listed twice")
    selectors = {k: v for k, v in model.meta.selectors.model_dump().items() if v is not None}
    return ParsFile(
        path=path,
        class_name=info.class_name,
        name=info.short_name,
        variant=stem.removeprefix(reftype).removeprefix("-") or None,
        description=model.meta.description,
        selectors=MappingProxyType(selectors),
        parameters=MappingProxyType(dict(model.parameters)),
        steps=tuple(
            ParsStep(name=s.name, skip=s.skip, parameters=MappingProxyType(dict(s.parameters)))
            for s in model.steps
        ),
    )


def _check_library(files: tuple[ParsFile, ...], directory: Path) -> None:
    seen: dict[tuple[str, frozenset[tuple[str, object]]], Path] = {}
    for f in files:
        key = (f.class_name, frozenset(f.selectors.items()))
        if key in seen:
            raise ConfigError(f"{f.path}: same class and selectors as {seen[key].name}")
        seen[key] = f.path
    for class_name in {f.class_name for f in files}:
        if not any(not f.selectors for f in files if f.class_name == class_name):
            raise ConfigError(f"{directory}: {class_name} has parameter files but no default (no selectors)")


def load_pars(directory: Path | str | None = None, *, registry: PipelineRegistry | None = None) -> ParsLibrary:
    """Load and validate every ``pars-*.yaml`` of a directory.

    Parameters
    ----------
    directory : Path or str, optional
        Default ``pars/`` of the shipped configuration (``default_config_dir``).
    registry : PipelineRegistry, optional
        Classes must exist in it; default :func:`~streamcal.routing.table.load_registry`.

    Returns
    -------
    ParsLibrary

    Raises
    ------
    ConfigError
        A file is invalid (unknown keys, unknown class, misnamed, duplicate steps or selectors), or a class
        has no default file. Not retriable.
    """
    directory = Path(directory) if directory is not None else default_config_dir() / "pars"
    registry = registry if registry is not None else load_registry()
    if not directory.is_dir():
        raise ConfigError(f"{directory}: parameter directory does not exist")
    files = tuple(
        _to_pars_file(path, load_model(path, _ParsModel), registry)
        for path in sorted(directory.glob("pars-*.yaml"))
    )
    _check_library(files, directory)
    return ParsLibrary(directory=directory, files=files)


def selection_context(route: Route, header: Mapping[str, object] | None = None) -> dict[str, object]:
    """Return the values parameter-file selectors are compared with.

    ``tsovisit`` is the route's ``is_tso``; ``patttype`` is ``WFSC`` exactly when the route is WFS&C (a
    header PATTTYPE=WFSC the router did not apply is dropped); ``visitype`` comes from the header.
    """
    header = header or {}
    patttype = "WFSC" if route.is_wfsc else header_str(header, "PATTTYPE")
    if patttype == "WFSC" and not route.is_wfsc:
        patttype = None
    return {
        "instrument": str(instrument_of(route.exp_type)),
        "exp_type": str(route.exp_type),
        "tsovisit": route.is_tso,
        "patttype": patttype,
        "visitype": header_str(header, "VISITYPE"),
    }


def select_pars(
    alias: str,
    route: Route,
    *,
    registry: PipelineRegistry,
    library: ParsLibrary | None = None,
    header: Mapping[str, object] | None = None,
) -> ParsFile:
    """Pick the parameter file for running pipeline ``alias`` on an exposure.

    Parameters
    ----------
    alias : str
        Any name of the pipeline (alias, class, ``.cfg``).
    route : Route
        The exposure's route.
    registry : PipelineRegistry
        Resolves ``alias`` to its class.
    library : ParsLibrary, optional
        Default :func:`load_pars` of the default directory (pass one in hot paths).
    header : Mapping[str, object], optional
        The primary header, for the ``visitype``/``patttype`` selectors.

    Returns
    -------
    ParsFile
        The matching file with the most selectors.

    Raises
    ------
    ConfigError
        No file exists for the class, or two equally specific files match. Not retriable.
    """
    class_name = registry.class_name(alias)
    library = library if library is not None else load_pars(registry=registry)
    context = selection_context(route, header)
    matching = [f for f in library.for_class(class_name) if f.matches(context)]
    if not matching:
        raise ConfigError(f"{library.directory}: no parameter file for {class_name} matches {context}")
    best = max(len(f.selectors) for f in matching)
    top = [f for f in matching if len(f.selectors) == best]
    if len(top) > 1:
        names = ", ".join(f.path.name for f in top)
        raise ConfigError(f"{library.directory}: ambiguous parameter files for {context}: {names}")
    return top[0]
