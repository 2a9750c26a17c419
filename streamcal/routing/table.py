"""Loading and validating ``configs/routing.yaml`` and ``configs/pipelines.yaml``.

Both files are validated completely at load time, so a bad config stops a service at startup instead of
dead-lettering exposures later. The loaders return immutable objects (:class:`RoutingTable`,
:class:`~streamcal.routing.registry.PipelineRegistry`); there is no module-level cache: the caller loads
once and passes the result around.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from streamcal.errors import ConfigError
from streamcal.routing._config import StrictModel, default_config_dir, load_model
from streamcal.routing.exptypes import EXTENSION_EXP_TYPES, AsnType, ExpType
from streamcal.routing.registry import Mode, ModeInfo, PipelineInfo, PipelineRegistry

__all__ = ["RouteRule", "RoutingTable", "WfscRule", "load_registry", "load_routing_table"]

_EXP_TYPES = frozenset(ExpType)
_ALIAS = r"^[a-z][a-z0-9_-]*$"


# ---------------------------------------------------------------------------------------------------
# pipelines.yaml


class _ModeModel(StrictModel):
    cfg: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.cfg$")
    used_for: str
    asn_type: AsnType | None = None


class _PipelineModel(StrictModel):
    alias: str = Field(pattern=_ALIAS)
    class_name: str = Field(alias="class", pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
    stage: Literal[1, 2, 3]
    used_for: str
    modes: dict[Mode, _ModeModel]

    @model_validator(mode="after")
    def _check_modes(self) -> _PipelineModel:
        if "default" not in self.modes:
            raise ValueError(f"{self.alias}: modes must include 'default'")
        for mode, info in self.modes.items():
            if self.stage == 1 and info.asn_type is not None:
                raise ValueError(f"{self.alias}: a stage-1 pipeline reads no association (mode {mode})")
            if self.stage > 1 and (info.asn_type is None or info.asn_type.level != self.stage):
                raise ValueError(f"{self.alias}: mode {mode} needs a level-{self.stage} asn_type")
        return self


class _RegistryFile(StrictModel):
    version: Literal[1]
    pipelines: list[_PipelineModel] = Field(min_length=1)


def load_registry(path: Path | str | None = None) -> PipelineRegistry:
    """Load the pipeline registry.

    Parameters
    ----------
    path : Path or str, optional
        The YAML file; default ``pipelines.yaml`` of the shipped configuration.

    Returns
    -------
    PipelineRegistry

    Raises
    ------
    ConfigError
        The file is unreadable or invalid (unknown keys, bad stage or asn_type, a name used twice).
        Not retriable.
    """
    path = Path(path) if path is not None else default_config_dir() / "pipelines.yaml"
    model = load_model(path, _RegistryFile)
    entries = [
        PipelineInfo(
            alias=p.alias,
            class_name=p.class_name,
            stage=p.stage,
            used_for=p.used_for,
            modes=MappingProxyType(
                {k: ModeInfo(cfg=m.cfg, used_for=m.used_for, asn_type=m.asn_type) for k, m in p.modes.items()}
            ),
        )
        for p in model.pipelines
    ]
    return PipelineRegistry(entries, source=path)


# ---------------------------------------------------------------------------------------------------
# routing.yaml


class _RowModel(StrictModel):
    exp_types: tuple[ExpType, ...] = Field(min_length=1)
    tsovisit: Literal["any"] | StrictBool
    always_tso: StrictBool = False
    stage1: str
    stage2: str | None
    stage3: str | None
    stage2_input: Literal["rate", "rateints"] | None = None
    nrslamp: StrictBool = False
    extension: str | None = None

    @field_validator("exp_types", mode="before")
    @classmethod
    def _known_exp_types(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            unknown = [v for v in value if not isinstance(v, str) or v not in _EXP_TYPES]
            if unknown:
                raise ValueError(f"unknown EXP_TYPE {', '.join(map(repr, unknown))}")
            if len(set(value)) != len(value):
                raise ValueError("an EXP_TYPE is listed twice in the row")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> _RowModel:
        if self.always_tso and self.tsovisit is not True:
            raise ValueError("always_tso requires tsovisit: true")
        if self.stage2 is None and (self.stage3 is not None or self.stage2_input is not None):
            raise ValueError("stage3 and stage2_input need a stage2")
        return self


class _WfscModel(StrictModel):
    patttype: str = Field(min_length=1)
    if_stage2: str
    applies_to_tso: StrictBool
    stage2: str
    stage3: str


class _RoutingFile(StrictModel):
    version: Literal[1]
    rows: list[_RowModel] = Field(min_length=1)
    wfsc: _WfscModel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRule:
    """One row of the routing table.

    ``tsovisit`` is None for the seed's "N/A" (``any``): the row matches whatever TSOVISIT says and the
    exposure is never TSO. ``always_tso`` rows match any TSOVISIT and are always TSO.
    """

    exp_types: tuple[ExpType, ...]
    tsovisit: bool | None
    always_tso: bool
    stage1: str
    stage2: str | None
    stage3: str | None
    stage2_input: Literal["rate", "rateints"] | None
    nrslamp: bool
    extension: str | None = None

    def matches(self, exp_type: ExpType, tsovisit: bool) -> bool:
        """Return whether this row applies to an exposure."""
        if exp_type not in self.exp_types:
            return False
        return self.always_tso or self.tsovisit is None or self.tsovisit == tsovisit


@dataclass(frozen=True, slots=True, kw_only=True)
class WfscRule:
    """The WFS&C reroute: PATTTYPE=``patttype`` on an exposure whose stage 2 is ``if_stage2``."""

    patttype: str
    if_stage2: str
    applies_to_tso: bool
    stage2: str
    stage3: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingTable:
    """The validated routing table; rows are tried in order and the first match wins."""

    rules: tuple[RouteRule, ...]
    wfsc: WfscRule | None
    registry: PipelineRegistry
    path: Path | None = None
    exp_types: frozenset[ExpType] = field(init=False, repr=False, compare=False)
    """Every EXP_TYPE some row routes (derived from ``rules``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "exp_types", frozenset(e for rule in self.rules for e in rule.exp_types))

    def match(self, exp_type: ExpType, tsovisit: bool) -> RouteRule | None:
        """Return the first row matching ``exp_type`` and ``tsovisit``, or None."""
        return next((rule for rule in self.rules if rule.matches(exp_type, tsovisit)), None)


def _check_alias(registry: PipelineRegistry, alias: str | None, stage: int, where: str) -> None:
    if alias is None:
        return
    if alias not in registry:
        raise ConfigError(f"{where}: unknown pipeline alias {alias!r} (not in {registry.source})")
    if registry.alias_of(alias) != alias:
        raise ConfigError(f"{where}: {alias!r} is not an alias; use {registry.alias_of(alias)!r}")
    if registry.stage(alias) != stage:
        raise ConfigError(f"{where}: {alias} is a stage-{registry.stage(alias)} pipeline, not stage {stage}")


def _check_rows(rows: Sequence[_RowModel], registry: PipelineRegistry, path: Path) -> None:
    seen: dict[ExpType, set[str]] = {}
    for index, row in enumerate(rows):
        where = f"{path}: rows.{index}"
        for stage, alias in enumerate((row.stage1, row.stage2, row.stage3), start=1):
            _check_alias(registry, alias, stage, where)
        outside = [str(e) for e in row.exp_types if (e in EXTENSION_EXP_TYPES) != (row.extension is not None)]
        if outside:  # the seed's rows stay the seed's: extensions are marked, and only they
            raise ConfigError(f"{where}: {', '.join(outside)} " + ("is not in the seed table: mark the row with "
                              "`extension: <source>`" if row.extension is None else "is a seed EXP_TYPE: its "
                              "row is the seed's, not an extension"))
        key = str(row.tsovisit).lower()
        for exp_type in row.exp_types:
            keys = seen.setdefault(exp_type, set())
            if key in keys or (keys and "any" in {key, *keys}):
                raise ConfigError(f"{where}: duplicate row for ({exp_type}, tsovisit={key})")
            keys.add(key)
    always = {e for row in rows if row.always_tso for e in row.exp_types}
    for exp_type, keys in seen.items():
        if exp_type in always and len(keys) > 1:
            raise ConfigError(f"{path}: {exp_type} is always_tso, so it must have exactly one row")
        if keys in ({"true"}, {"false"}) and exp_type not in always:
            missing = "false" if keys == {"true"} else "true"
            raise ConfigError(f"{path}: {exp_type} has no row for tsovisit: {missing}")


def _check_wfsc(wfsc: _WfscModel, registry: PipelineRegistry, path: Path) -> None:
    where = f"{path}: wfsc"
    _check_alias(registry, wfsc.if_stage2, 2, where)
    _check_alias(registry, wfsc.stage2, 2, where)
    _check_alias(registry, wfsc.stage3, 3, where)


def load_routing_table(
    path: Path | str | None = None, *, registry: PipelineRegistry | None = None
) -> RoutingTable:
    """Load and validate the routing table.

    Parameters
    ----------
    path : Path or str, optional
        The YAML file; default ``routing.yaml`` of the shipped configuration.
    registry : PipelineRegistry, optional
        The registry the aliases must exist in; default :func:`load_registry` with its default path.

    Returns
    -------
    RoutingTable

    Raises
    ------
    ConfigError
        The file is unreadable or invalid: unknown keys or EXP_TYPEs, an unknown alias or one at the
        wrong stage, duplicate or overlapping (EXP_TYPE, tsovisit) rows, or a tsovisit: true row with
        no tsovisit: false row. Not retriable.
    """
    path = Path(path) if path is not None else default_config_dir() / "routing.yaml"
    registry = registry if registry is not None else load_registry()
    model = load_model(path, _RoutingFile)
    _check_rows(model.rows, registry, path)
    if model.wfsc is not None:
        _check_wfsc(model.wfsc, registry, path)
    rules = tuple(
        RouteRule(
            exp_types=row.exp_types,
            tsovisit=None if row.tsovisit == "any" else bool(row.tsovisit),
            always_tso=row.always_tso,
            stage1=row.stage1,
            stage2=row.stage2,
            stage3=row.stage3,
            stage2_input=row.stage2_input,
            nrslamp=row.nrslamp,
            extension=row.extension,
        )
        for row in model.rows
    )
    wfsc = None
    if model.wfsc is not None:
        w = model.wfsc
        wfsc = WfscRule(
            patttype=w.patttype.strip().upper(),
            if_stage2=w.if_stage2,
            applies_to_tso=w.applies_to_tso,
            stage2=w.stage2,
            stage3=w.stage3,
        )
    return RoutingTable(rules=rules, wfsc=wfsc, registry=registry, path=path)
