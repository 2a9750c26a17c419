"""The run specification: the route and, for each of its stages, the parameter file chosen for it.

The router decides it once per exposure (:func:`decide_spec`) from the primary header; it then travels in
every work item (:meth:`RunSpec.to_dict`), so workers and pipelines run from it and never load the routing
table or the parameter files. A stage's :class:`StageSpec` carries the parameter file's name and contents
(pipeline parameters, steps with ``skip`` and parameters): the plan a worker builds from it is exactly the one
the router's configuration describes.

Products record the decision in their primary header (:meth:`RunSpec.keywords`: the stages, the stage-2 input,
the association types, the TSO and WFS&C flags and each stage's parameter file), so what reads products later
— the association tracker rebuilding its state, the watcher deciding at startup what is finished — learns an
exposure's specification from its products (:meth:`RunSpec.from_header`) instead of routing it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamcal.errors import ConfigError, InvalidInputError
from streamcal.models.keywords import header_bool, header_str
from streamcal.routing.pars import ParsFile, ParsLibrary, ParsStep, load_pars, select_pars
from streamcal.routing.route import Route, route
from streamcal.routing.table import RoutingTable, load_registry, load_routing_table

__all__ = ["RoutingConfig", "RunSpec", "StageSpec", "decide_spec", "stage_spec"]


def _mapping(value: object, what: str) -> dict[str, object]:
    """A plain dict (a specification crosses process boundaries: it must pickle)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInputError(f"invalid run specification: {what} is not a mapping")
    return dict(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSpec:
    """How one stage runs: the pipeline alias and the parameter file chosen for it (name and contents)."""

    pipeline: str
    pars: str
    parameters: Mapping[str, object]
    steps: tuple[ParsStep, ...]

    @classmethod
    def from_pars(cls, alias: str, pars: ParsFile) -> StageSpec:
        steps = tuple(ParsStep(name=s.name, skip=s.skip, parameters=dict(s.parameters)) for s in pars.steps)
        return cls(pipeline=alias, pars=pars.path.name, parameters=dict(pars.parameters), steps=steps)

    def to_dict(self) -> dict[str, object]:
        return {"pipeline": self.pipeline, "pars": self.pars, "parameters": dict(self.parameters),
                "steps": [{"name": s.name, "skip": s.skip, "parameters": dict(s.parameters)} for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StageSpec:
        """Raises InvalidInputError (not retriable) on anything that is not a :meth:`to_dict` output."""
        pipeline, pars, steps = data.get("pipeline"), data.get("pars"), data.get("steps", [])
        if not isinstance(pipeline, str) or not isinstance(pars, str) or not isinstance(steps, list):
            raise InvalidInputError("invalid run specification: a stage needs pipeline, pars and steps")
        parsed = []
        for step in steps:
            step = _mapping(step, "a step")
            name, skip = step.get("name"), step.get("skip", False)
            if not isinstance(name, str) or not isinstance(skip, bool):
                raise InvalidInputError(f"invalid run specification: bad step entry {dict(step)!r}")
            parsed.append(ParsStep(name=name, skip=skip, parameters=_mapping(step.get("parameters", {}),
                                                                            f"parameters of {name}")))
        return cls(pipeline=pipeline, pars=pars, parameters=_mapping(data.get("parameters", {}), "parameters"),
                   steps=tuple(parsed))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """An exposure's route and the stage specification of each of its stages, in order."""

    route: Route
    stages: tuple[StageSpec, ...]

    def stage(self, alias: str) -> StageSpec:
        """The specification of stage ``alias``.

        Raises
        ------
        InvalidInputError
            The specification has no such stage. Not retriable.
        """
        for spec in self.stages:
            if spec.pipeline == alias:
                return spec
        raise InvalidInputError(f"the run specification of this {self.route.exp_type} exposure has no stage "
                                f"{alias} (it has {', '.join(s.pipeline for s in self.stages)})")

    def to_dict(self) -> dict[str, object]:
        return {"route": self.route.to_dict(), "stages": [s.to_dict() for s in self.stages]}

    def keywords(self) -> dict[str, object]:
        """The primary-header keywords that record this specification in a product (see the module docstring)."""
        r = self.route
        out: dict[str, object] = {"SCTSO": r.is_tso, "SCWFSC": r.is_wfsc}
        for n, alias in ((1, r.stage1), (2, r.stage2), (3, r.stage3)):
            if alias is not None:
                out[f"SCSTAGE{n}"] = alias
                pars = next((s.pars for s in self.stages if s.pipeline == alias), None)
                if pars is not None:
                    out[f"SCPARS{n}"] = pars
        optional = {"SCS2IN": r.stage2_input, "SCASN2": r.stage2_asn_type, "SCASN3": r.asn_type}
        out.update({k: str(v) for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_header(cls, header: Mapping[str, object], config: RoutingConfig, *,
                    source: str | None = None) -> RunSpec | None:
        """The specification a product records (:meth:`keywords`); None when the header records none (a file
        streamcal did not make, or made before it recorded one).

        Each stage's parameter file is read from ``config``'s library by the name recorded; when that file is
        gone (renamed, removed), the stage gets the file the library's selectors choose now.

        Raises
        ------
        InvalidInputError
            The record is incomplete or inconsistent: a missing or blank stage, an alias the registry does not
            know, a stage 3 without a stage 2, a stage 2 without its input (SCS2IN), a stage 3 without its
            association type (SCASN3), missing SCTSO/SCWFSC, or a recorded parameter file of another pipeline.
            Not retriable.
        """
        if header.get("SCSTAGE1") is None:
            return None
        where = f" in {source}" if source else ""
        registry = config.table.registry

        def bad(message: str) -> InvalidInputError:
            return InvalidInputError(f"run specification record{where}: {message}")

        def alias(key: str) -> str | None:
            value = header.get(key)
            if value is None:
                return None
            text = str(value).strip()
            if text not in registry or registry.alias_of(text) != text:
                raise bad(f"{key}={value!r} is not a pipeline alias")
            return text

        def required(key: str) -> object:
            if header.get(key) is None:
                raise bad(f"{key} is missing")
            return header[key]

        stage1, stage2, stage3 = alias("SCSTAGE1"), alias("SCSTAGE2"), alias("SCSTAGE3")
        if stage1 is None or (stage3 is not None and stage2 is None):
            raise bad("its stages are not 1, 1-2 or 1-2-3")
        required("SCTSO")
        required("SCWFSC")
        if stage2 is not None:
            required("SCS2IN")
        if stage3 is not None:
            required("SCASN3")

        def lower(key: str) -> str | None:
            value = header_str(header, key, source=source)
            return None if value is None else value.lower()

        found = Route.from_dict({
            "exp_type": header_str(header, "EXP_TYPE", source=source),
            "tsovisit": header_bool(header, "TSOVISIT", source=source),
            "is_tso": header_bool(header, "SCTSO", source=source),
            "is_wfsc": header_bool(header, "SCWFSC", source=source),
            "stage1": stage1, "stage2": stage2, "stage3": stage3, "stage2_input": lower("SCS2IN"),
            "asn_type": lower("SCASN3"), "stage2_asn_type": lower("SCASN2"),
        })
        stages = []
        for n, name in enumerate(found.stages, 1):
            recorded = header.get(f"SCPARS{n}")
            pars = next((f for f in config.library.files if f.path.name == recorded), None)
            if pars is None:  # the recorded file is gone: today's choice for this exposure
                stages.append(stage_spec(name, found, header, table=config.table, library=config.library))
                continue
            if pars.class_name != registry.class_name(name):
                raise bad(f"SCPARS{n}={recorded!r} is a {pars.name} file, not {registry.info(name).short_name}'s")
            stages.append(StageSpec.from_pars(name, pars))
        return cls(route=found, stages=tuple(stages))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RunSpec:
        """Raises InvalidInputError (not retriable) on anything that is not a :meth:`to_dict` output."""
        stages = data.get("stages")
        if not isinstance(stages, list):
            raise InvalidInputError("invalid run specification: no list of stages")
        return cls(route=Route.from_dict(_mapping(data.get("route"), "route")),
                   stages=tuple(StageSpec.from_dict(_mapping(s, "a stage")) for s in stages))


def stage_spec(alias: str, found: Route, header: Mapping[str, object], *, table: RoutingTable,
               library: ParsLibrary) -> StageSpec:
    """The specification of running pipeline ``alias`` on an exposure with route ``found``.

    Raises
    ------
    ConfigError
        No (or no unambiguous) parameter file for the pipeline. Not retriable.
    """
    pars = select_pars(alias, found, registry=table.registry, library=library, header=header)
    return StageSpec.from_pars(table.registry.alias_of(alias), pars)


def decide_spec(header: Mapping[str, object], *, table: RoutingTable, library: ParsLibrary,
                  source: str | None = None) -> RunSpec:
    """Route an exposure and choose the parameter file of each of its stages: what the router decides once.

    Raises
    ------
    UnknownExposureTypeError, BadKeywordValueError
        From :func:`~streamcal.routing.route.route`. Not retriable.
    ConfigError
        No parameter file for a stage. Not retriable.
    """
    found = route(header, table, source=source)
    return RunSpec(route=found, stages=tuple(stage_spec(alias, found, header, table=table, library=library)
                                             for alias in found.stages))


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """The routing table and the parameter files: what deciding a run specification reads (~60 ms to parse).

    Load it once (:meth:`load`) and pass it on; the router, ``streamcal calibrate`` and the services that read
    products' recorded specifications hold one.
    """

    table: RoutingTable
    library: ParsLibrary

    @classmethod
    def load(cls, directory: Path | str | None = None) -> RoutingConfig:
        """Parse and validate a configuration folder (``pipelines.yaml``, ``routing.yaml``, ``pars/``); default
        the one shipped with streamcal (``default_config_dir``).

        Raises
        ------
        ConfigError
            A file is missing or invalid. Not retriable.
        """
        if directory is None:
            table = load_routing_table()
            return cls(table, load_pars(registry=table.registry))
        folder = Path(directory)
        if not folder.is_dir():
            raise ConfigError(f"{folder}: configuration folder does not exist")
        registry = load_registry(folder / "pipelines.yaml")
        table = load_routing_table(folder / "routing.yaml", registry=registry)
        return cls(table, load_pars(folder / "pars", registry=registry))
