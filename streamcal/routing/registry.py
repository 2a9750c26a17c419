"""The pipeline registry: aliases, jwst class names and the deprecated ``.cfg`` names.

A pipeline is known by its alias (``calwebb_detector1``), its class (``jwst.pipeline.Detector1Pipeline``),
the short class name (``Detector1Pipeline``) and, before jwst 1.1.0, by ``.cfg`` files, one per processing
mode (``calwebb_tso1.cfg`` was Detector1Pipeline for TSO). The data live in ``configs/pipelines.yaml`` and
are loaded by :func:`streamcal.routing.table.load_registry`; this module holds the immutable result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamcal.errors import ConfigError, UnknownPipelineError
from streamcal.routing.exptypes import AsnType

__all__ = ["Mode", "ModeInfo", "PipelineInfo", "PipelineRegistry", "mode_for"]

Mode = Literal["default", "tso", "wfsc", "nrslamp"]
"""A processing mode: the key under which pipelines.yaml lists a ``.cfg`` name and an ASN type."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeInfo:
    """One processing mode of a pipeline: its deprecated ``.cfg`` name and the ASN type it reads."""

    cfg: str
    used_for: str
    asn_type: AsnType | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineInfo:
    """One registry entry (one row of ``configs/pipelines.yaml``)."""

    alias: str
    class_name: str
    stage: int
    used_for: str
    modes: Mapping[str, ModeInfo]

    @property
    def short_name(self) -> str:
        """The class name without its module, e.g. ``Detector1Pipeline``."""
        return self.class_name.rpartition(".")[2]

    def mode(self, mode: Mode) -> ModeInfo:
        """Return the entry for ``mode``, falling back to ``default`` when the pipeline has no such mode."""
        return self.modes.get(mode) or self.modes["default"]


def mode_for(*, is_tso: bool = False, is_wfsc: bool = False, nrslamp: bool = False) -> Mode:
    """Return the processing mode for a set of route flags.

    Lamp mode wins over TSO, and TSO over WFS&C; the routing table never combines them.

    Parameters
    ----------
    is_tso, is_wfsc, nrslamp : bool
        The route's flags.

    Returns
    -------
    Mode
    """
    if nrslamp:
        return "nrslamp"
    if is_tso:
        return "tso"
    if is_wfsc:
        return "wfsc"
    return "default"


class PipelineRegistry:
    """Look pipelines up by any of their names.

    Parameters
    ----------
    entries : Iterable[PipelineInfo]
        The pipelines. Aliases, class names, short class names and ``.cfg`` names must be unique.
    source : Path, optional
        The file the entries came from, for error messages.

    Raises
    ------
    ConfigError
        Two entries share a name. Not retriable.
    """

    __slots__ = ("_by_alias", "_names", "source")

    def __init__(self, entries: Iterable[PipelineInfo], *, source: Path | None = None) -> None:
        self.source = source
        self._by_alias: dict[str, PipelineInfo] = {}
        self._names: dict[str, str] = {}
        where = f" in {source}" if source else ""
        for info in entries:
            if info.alias in self._by_alias:
                raise ConfigError(f"pipeline name {info.alias!r} is used twice{where}")
            self._by_alias[info.alias] = info
            names = [info.alias, info.class_name, info.short_name, *(m.cfg for m in info.modes.values())]
            for name in dict.fromkeys(names):
                if self._names.setdefault(name, info.alias) != info.alias:
                    raise ConfigError(f"pipeline name {name!r} is used twice{where}")

    def __repr__(self) -> str:
        return f"PipelineRegistry({len(self._by_alias)} pipelines from {self.source})"

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every alias, in file order."""
        return tuple(self._by_alias)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def _lookup(self, name: str) -> str | None:
        alias = self._names.get(name)
        if alias is None and "." in name and not name.endswith(".cfg"):
            # pars files written by jwst name the defining module: jwst.pipeline.calwebb_image2.Image2Pipeline
            alias = self._names.get(name.rpartition(".")[2])
        return alias

    def alias_of(self, name: str) -> str:
        """Return the alias for an alias, class name, short class name or (deprecated) ``.cfg`` name.

        Parameters
        ----------
        name : str
            E.g. ``"calwebb_tso1.cfg"``, ``"Detector1Pipeline"`` or ``"jwst.pipeline.Detector1Pipeline"``.

        Returns
        -------
        str
            E.g. ``"calwebb_detector1"``.

        Raises
        ------
        UnknownPipelineError
            The name is unknown. Not retriable.
        """
        alias = self._lookup(name)
        if alias is None:
            where = f" ({self.source})" if self.source else ""
            raise UnknownPipelineError(f"unknown pipeline {name!r}: not in the pipeline registry{where}")
        return alias

    def info(self, name: str) -> PipelineInfo:
        """Return the registry entry for any name of a pipeline (see :meth:`alias_of`)."""
        return self._by_alias[self.alias_of(name)]

    def class_name(self, name: str) -> str:
        """Return the fully qualified class, e.g. ``jwst.pipeline.Detector1Pipeline``."""
        return self.info(name).class_name

    def stage(self, name: str) -> int:
        """Return the stage (1, 2 or 3) the pipeline runs at."""
        return self.info(name).stage

    def cfg_name(self, name: str, *, is_tso: bool = False, is_wfsc: bool = False, nrslamp: bool = False) -> str:
        """Return the deprecated ``.cfg`` name that ran this pipeline in this mode before jwst 1.1.0.

        Parameters
        ----------
        name : str
            Any name of the pipeline.
        is_tso, is_wfsc, nrslamp : bool
            The route's flags (see :func:`mode_for`); a mode the pipeline lacks falls back to its default.

        Returns
        -------
        str
            E.g. ``cfg_name("calwebb_detector1", is_tso=True) == "calwebb_tso1.cfg"``.
        """
        return self.info(name).mode(mode_for(is_tso=is_tso, is_wfsc=is_wfsc, nrslamp=nrslamp)).cfg

    def asn_type(
        self, name: str, *, is_tso: bool = False, is_wfsc: bool = False, nrslamp: bool = False
    ) -> AsnType | None:
        """Return the association type the pipeline reads in this mode (None for stage 1)."""
        return self.info(name).mode(mode_for(is_tso=is_tso, is_wfsc=is_wfsc, nrslamp=nrslamp)).asn_type

    def pars_reftype(self, name: str) -> str:
        """Return the CRDS parameter reftype: ``"pars-"`` + the lower-cased short class name."""
        return "pars-" + self.info(name).short_name.lower()

