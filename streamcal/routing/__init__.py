"""Routing: the seed's EXP_TYPE/TSOVISIT table as validated data, and the immutable :class:`Route`.

Load the configuration once (:func:`load_registry`, :func:`load_routing_table`, :func:`load_pars`) and pass
it to :func:`route` and :func:`select_pars`; nothing here caches anything.
"""

from __future__ import annotations

from streamcal.routing.exptypes import EXTENSION_EXP_TYPES, AsnType, ExpType, Instrument, instrument_of
from streamcal.routing.pars import ParsFile, ParsLibrary, ParsStep, load_pars, select_pars, selection_context
from streamcal.routing.registry import Mode, ModeInfo, PipelineInfo, PipelineRegistry, mode_for
from streamcal.routing.route import Route, route
from streamcal.routing.spec import RoutingConfig, RunSpec, StageSpec, decide_spec, stage_spec
from streamcal.routing.table import RouteRule, RoutingTable, WfscRule, load_registry, load_routing_table

__all__ = [
    "EXTENSION_EXP_TYPES",
    "AsnType",
    "ExpType",
    "Instrument",
    "Mode",
    "ModeInfo",
    "ParsFile",
    "ParsLibrary",
    "ParsStep",
    "PipelineInfo",
    "PipelineRegistry",
    "Route",
    "RouteRule",
    "RoutingConfig",
    "RoutingTable",
    "RunSpec",
    "StageSpec",
    "WfscRule",
    "decide_spec",
    "instrument_of",
    "load_pars",
    "load_registry",
    "load_routing_table",
    "mode_for",
    "route",
    "select_pars",
    "selection_context",
    "stage_spec",
]
