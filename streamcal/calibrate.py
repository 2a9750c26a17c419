"""Calibrating a file by hand (``streamcal calibrate``, tests, benchmarks): the run specification decided from
the file exactly as the router decides it, then one pipeline run.

:func:`spec_for` picks the pipeline a file is input to — a raw ``_uncal`` its route's stage 1, a
``_rate``/``_rateints`` its route's stage 2, an ``*_asn.json`` the pipeline that reads its ``asn_type`` (the
specification then comes from its first science member) — or the one asked for; :func:`calibrate` runs it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from streamcal.associations import member_paths, read_asn
from streamcal.datamodels import read_header, read_headers, split_suffix
from streamcal.errors import AssociationError
from streamcal.pipelines import PipelineResult, RunRequest, pipeline, run_pipeline
from streamcal.routing import RoutingConfig, RoutingTable, RunSpec, decide_spec, stage_spec

__all__ = ["calibrate", "spec_for"]


def _asn_input(path: Path, table: RoutingTable) -> tuple[str, Mapping[str, object]]:
    """The pipeline that reads an ASN, and the primary header of its first science member."""
    registry = table.registry
    asn = read_asn(path)
    alias = next((a for a in registry.aliases
                  if any(mode.asn_type == asn.asn_type for mode in registry.info(a).modes.values())), None)
    if alias is None:
        raise AssociationError(f"{path.name}: no pipeline reads {asn.asn_type} associations")
    members = member_paths(asn, path.parent, exptypes=("science",))
    if not members or not members[0].is_file():
        named = members[0].name if members else "(none)"
        raise AssociationError(f"{path.name}: first science member {named} is not on storage")
    return alias, read_header(members[0])


def spec_for(path: Path, config: RoutingConfig, *, pipeline: str | None = None) -> tuple[str, RunSpec]:
    """The pipeline ``path`` is input to (or ``pipeline``) and the run specification, decided as the router does.

    A pipeline outside the file's route gets the parameter file its selectors choose for the file.

    Raises
    ------
    StreamcalError subclasses
        The file cannot be routed (unreadable header, unknown EXP_TYPE, a bad ASN). Not retriable.
    """
    table, library = config.table, config.library
    if path.name.endswith(".json"):
        chosen, header = _asn_input(path, table)
    else:
        header = read_headers(path).primary
        chosen = ""
    spec = decide_spec(header, table=table, library=library, source=path.name)
    if not chosen:
        _, suffix = split_suffix(path)
        stage2 = spec.route.stage2
        chosen = stage2 if suffix in ("rate", "rateints") and stage2 is not None else spec.route.stage1
    chosen = pipeline or chosen
    if all(s.pipeline != chosen for s in spec.stages):
        extra = stage_spec(chosen, spec.route, header, table=table, library=library)
        spec = dataclasses.replace(spec, stages=(*spec.stages, extra))
    return chosen, spec


def calibrate(path: str | os.PathLike[str], *, refs_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
              pipeline_alias: str | None = None, config: RoutingConfig | None = None, save_ramp: bool = False,
              workers: int = 1, block_bytes: int | None = None) -> PipelineResult:
    """Run the pipeline a file is input to (or ``pipeline_alias``) on it, like jwst's ``strun``.

    ``save_ramp`` also writes the calibrated ramp (stage 1); ``workers`` > 1 runs stage-1 tiles in that many
    threads, of ``block_bytes`` each. ``config`` is parsed here when omitted (pass one for many files).

    Raises
    ------
    StreamcalError subclasses
        From routing or the pipeline; each says whether it is retriable.
    """
    config = config if config is not None else RoutingConfig.load()
    source = Path(path)
    alias, spec = spec_for(source, config, pipeline=pipeline_alias)
    params = {f.name for f in dataclasses.fields(pipeline(alias).parameters)}
    overrides = {"save_calibrated_ramp": True} if save_ramp and "save_calibrated_ramp" in params else {}
    return run_pipeline(RunRequest(pipeline=alias, input_path=source, spec=spec, refs_dir=Path(refs_dir),
                                   out_dir=Path(out_dir), overrides=overrides, workers=workers,
                                   block_bytes=block_bytes))
