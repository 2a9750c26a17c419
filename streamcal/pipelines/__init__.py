"""Pipelines by alias: one declaration each, one plan builder, one runner.

``pipeline(alias)`` is a pipeline's declaration (:class:`~streamcal.pipelines.plan.Pipeline`: its steps, its
parameters, how it runs and what it writes); ``run_pipeline(request)`` builds the plan of the request's stage
specification and runs it — a pure function of the request, safe in a process pool.
``implemented_aliases()`` says which aliases have a declaration (the rest are routed to, and wait, but are
never faked); ``implements(alias, exp_type)`` whether a declared pipeline takes that kind of exposure yet
(calwebb_spec2 takes the single-trace modes: :data:`PARTIAL`); the work it does not take waits too.
Declarations are imported on first use: the stage-2/3 ones pull in photutils, scipy.ndimage and drizzle
(~1.5 s), which a stage-1 worker process never needs.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from streamcal.associations.wfss import WFSS_EXP_TYPES  # stage 2 from a level-2 ASN (pipelines.spec2_wfss)
from streamcal.errors import ConfigError
from streamcal.pipelines.plan import (
    RAW_DIGEST_KEY,
    Outputs,
    Pipeline,
    PipelineResult,
    Plan,
    RunRequest,
    build_plan,
)
from streamcal.routing import RoutingConfig
from streamcal.routing.spec import StageSpec

__all__ = [
    "PARTIAL",
    "WFSS_EXP_TYPES",
    "Outputs",
    "Pipeline",
    "PipelineResult",
    "Plan",
    "RunRequest",
    "build_plan",
    "check_pars",
    "implemented_aliases",
    "implements",
    "pipeline",
    "run_pipeline",
]

#: alias → the module and name of its declaration.
_DECLARATIONS = MappingProxyType({
    "calwebb_detector1": ("streamcal.pipelines.detector1", "DETECTOR1"),
    "calwebb_dark": ("streamcal.pipelines.detector1", "DARK"),
    "calwebb_guider": ("streamcal.pipelines.guider", "GUIDER"),
    "calwebb_image2": ("streamcal.pipelines.image2", "IMAGE2"),
    "calwebb_image3": ("streamcal.pipelines.image3", "IMAGE3"),
    "calwebb_wfs-image3": ("streamcal.pipelines.wfs_image3", "WFS_IMAGE3"),
    "calwebb_spec2": ("streamcal.pipelines.spec2", "SPEC2"),
    "calwebb_spec3": ("streamcal.pipelines.spec3", "SPEC3"),
    "calwebb_ami3": ("streamcal.pipelines.ami3", "AMI3"),
    "calwebb_tso3": ("streamcal.pipelines.tso3", "TSO3"),
    "calwebb_coron3": ("streamcal.pipelines.coron3", "CORON3"),
})

#: Declared pipelines that take only some exposures so far: alias → the EXP_TYPEs they take.
#: calwebb_spec2: the single-trace modes with a SPECWCS layout, time series (``_rateints`` → ``_calints``,
#: ``_x1dints``) or not (streamcal.pipelines.spec2), the IFU modes (MIR_MRS, NRS_IFU → ``_s3d``, one band) and
#: NIRSpec MOS (NRS_MSASPEC → MultiSlitModel ``_cal``/``_s2d``, an x1d spectrum per source) and the NIRSpec lamps
#: (MultiSlitModel ``_cal`` in DN/s; line lamps ``_s2d`` and ``_x1d`` too).
PARTIAL: MappingProxyType[str, frozenset[str]] = MappingProxyType({
    "calwebb_spec2": frozenset({"NRS_FIXEDSLIT", "NRS_BRIGHTOBJ", "MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS",
                                "NRC_TSGRISM", "NIS_SOSS", "MIR_MRS", "NRS_IFU", "NRS_MSASPEC",
                                "NIS_WFSS", "NRC_WFSS",  # WFSS: from a level-2 ASN (streamcal.pipelines.spec2_wfss)
                                "NRS_LAMP", "NRS_AUTOWAVE", "NRS_AUTOFLAT"}),  # lamps (streamcal.pipelines.spec2_lamp)
    # calwebb_spec3: the single-trace, single-source modes the routing table sends to spec3 (their time series go
    # to tso3, non-TSO MIR_LRS-SLITLESS nowhere), the IFU modes (one cube per band), MOS and WFSS
    # (streamcal.pipelines.spec3)
    "calwebb_spec3": frozenset({"NRS_FIXEDSLIT", "MIR_LRS-FIXEDSLIT", "NIS_SOSS", "MIR_MRS", "NRS_IFU",
                                "NRS_MSASPEC",  # MOS: one product per source (streamcal.pipelines.spec3_mos)
                                "NIS_WFSS", "NRC_WFSS"}),  # every source in one x1d/c1d (pipelines.spec3_wfss)
})


def implemented_aliases() -> frozenset[str]:
    """The pipeline aliases streamcal implements."""
    return frozenset(_DECLARATIONS)


def implements(alias: str, exp_type: str) -> bool:
    """Whether pipeline ``alias`` is declared and takes this kind of exposure (see :data:`PARTIAL`)."""
    if alias not in _DECLARATIONS:
        return False
    taken = PARTIAL.get(alias)
    return taken is None or exp_type.upper() in taken


def pipeline(alias: str) -> Pipeline:
    """The declaration of pipeline ``alias``.

    Raises
    ------
    ConfigError
        ``alias`` has no implementation. Not retriable.
    """
    found = _DECLARATIONS.get(alias)
    if found is None:
        raise ConfigError(f"no implementation of pipeline {alias!r}; implemented: {sorted(_DECLARATIONS)}")
    module, name = found
    decl: Pipeline = getattr(importlib.import_module(module), name)
    return decl


def run_pipeline(request: RunRequest) -> PipelineResult:
    """Run one stage of a run specification on one input (stage 1: an ``_uncal`` file; stage 2: a
    ``_rate``/``_rateints`` file or a level-2 ASN; stage 3: an ASN).

    Raises
    ------
    ConfigError
        The pipeline has no implementation, or its stage specification does not make a valid plan. Not
        retriable.
    StreamcalError subclasses
        From the pipeline (bad input, missing references); each says whether it is retriable.
    """
    decl = pipeline(request.pipeline)
    provenance = request.spec.keywords()
    if request.raw_digest is not None:
        provenance[RAW_DIGEST_KEY] = request.raw_digest
    plan = build_plan(decl, request.stage, overrides=request.overrides, provenance=provenance)
    return decl.run(request, plan)


def check_pars(config: RoutingConfig) -> int:
    """The startup check of a configuration: every pipeline the routing table names has a parameter file, and
    every parameter file of an implemented pipeline makes a plan. Returns how many files were checked.

    Raises
    ------
    ConfigError
        A pipeline without a parameter file (the router could not specify its stage), or a file with an unknown
        step, an unknown or invalid parameter, or steps that do not chain; the message names the file, the step
        and the key. Not retriable.
    """
    registry = config.table.registry
    classes = {f.class_name for f in config.library.files}
    used = sorted({a for rule in config.table.rules for a in (rule.stage1, rule.stage2, rule.stage3) if a}
                  | ({config.table.wfsc.stage2, config.table.wfsc.stage3} if config.table.wfsc else set()))
    for alias in used:
        if registry.class_name(alias) not in classes:
            raise ConfigError(f"{config.library.directory}: no parameter file for {alias} "
                              f"(pars-{registry.info(alias).short_name.lower()}.yaml), which the routing table uses")
    checked = 0
    for pars in config.library.files:
        alias = registry.alias_of(pars.class_name)
        if alias in _DECLARATIONS:
            build_plan(pipeline(alias), StageSpec.from_pars(alias, pars))
            checked += 1
    return checked
