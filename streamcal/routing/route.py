"""Deciding an exposure's route: EXP_TYPE + TSOVISIT (+ PATTTYPE) → pipelines, inputs and ASN types.

The decision follows the seed table (``configs/routing.yaml``) and jwst_spec §0:

- EXP_TYPE picks the rows; TSOVISIT picks between a mode's TSO and non-TSO rows. For modes that do not allow
  TSO (the seed's "N/A", ``tsovisit: any``) TSOVISIT is **ignored**: TSOVISIT=T routes like F and the
  exposure is not TSO. NRC_TSIMAGE, NRC_TSGRISM and NRS_BRIGHTOBJ are TSO whatever TSOVISIT says.
- PATTTYPE=WFSC on a non-TSO exposure whose stage 2 is calwebb_image2 reroutes stage 3 to
  calwebb_wfs-image3 (the WFS&C rule of routing.yaml).
- Stage 2 reads ``rateints`` for TSO, coronagraphy and AMI, ``rate`` otherwise.

The route is decided once, by the router, and travels inside every later event (:meth:`Route.to_dict`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from streamcal.errors import InvalidInputError, UnknownExposureTypeError
from streamcal.models.keywords import header_bool, header_str
from streamcal.routing.exptypes import AsnType, ExpType
from streamcal.routing.table import RouteRule, RoutingTable, load_routing_table

__all__ = ["Route", "route"]

log = logging.getLogger(__name__)

Stage2Input = Literal["rate", "rateints"]
_T = TypeVar("_T")
_EXP_TYPES = frozenset(ExpType)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where one exposure goes.

    Attributes
    ----------
    exp_type : ExpType
        The exposure's EXP_TYPE.
    tsovisit : bool
        The TSOVISIT keyword as read (absent = False), even where the table ignores it.
    is_tso : bool
        Whether the exposure is processed as a time series.
    is_wfsc : bool
        Whether the WFS&C rule applied (PATTTYPE=WFSC on an image2 exposure).
    stage1, stage2, stage3 : str or None
        Pipeline aliases; ``stage1`` is always set, ``stage2``/``stage3`` are None when the exposure stops.
    stage2_input : {"rate", "rateints"} or None
        The stage-1 product stage 2 reads; None without a stage 2.
    asn_type : AsnType or None
        The level-3 association type (from the stage-3 pipeline); None without a stage 3.
    stage2_asn_type : AsnType or None
        The level-2 association type; None without a stage 2.
    """

    exp_type: ExpType
    tsovisit: bool
    is_tso: bool
    is_wfsc: bool
    stage1: str
    stage2: str | None
    stage3: str | None
    stage2_input: Stage2Input | None
    asn_type: AsnType | None
    stage2_asn_type: AsnType | None

    @property
    def stages(self) -> tuple[str, ...]:
        """The pipeline aliases in order, without the missing stages."""
        return tuple(s for s in (self.stage1, self.stage2, self.stage3) if s is not None)

    def next_stage(self, alias: str) -> str | None:
        """Return the alias that runs after ``alias``, or None after the last stage.

        Raises
        ------
        ValueError
            ``alias`` is not a stage of this route. Not retriable.
        """
        stages = self.stages
        if alias not in stages:
            raise ValueError(f"{alias!r} is not a stage of this {self.exp_type} route {stages}")
        index = stages.index(alias)
        return stages[index + 1] if index + 1 < len(stages) else None

    def to_dict(self) -> dict[str, str | bool | None]:
        """Return a JSON-safe dict (plain str, bool and None values)."""
        return {
            "exp_type": str(self.exp_type),
            "tsovisit": self.tsovisit,
            "is_tso": self.is_tso,
            "is_wfsc": self.is_wfsc,
            "stage1": self.stage1,
            "stage2": self.stage2,
            "stage3": self.stage3,
            "stage2_input": self.stage2_input,
            "asn_type": None if self.asn_type is None else str(self.asn_type),
            "stage2_asn_type": None if self.stage2_asn_type is None else str(self.stage2_asn_type),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Route:
        """Rebuild a route from :meth:`to_dict` output; unknown keys are ignored.

        Raises
        ------
        InvalidInputError
            A key is missing or has the wrong type or value. Not retriable.
        """
        try:
            return cls(
                exp_type=ExpType(_field(data, "exp_type", str)),
                tsovisit=_field(data, "tsovisit", bool),
                is_tso=_field(data, "is_tso", bool),
                is_wfsc=_field(data, "is_wfsc", bool),
                stage1=_field(data, "stage1", str),
                stage2=_optional(data, "stage2"),
                stage3=_optional(data, "stage3"),
                stage2_input=_stage2_input(_optional(data, "stage2_input")),
                asn_type=_asn_type(_optional(data, "asn_type")),
                stage2_asn_type=_asn_type(_optional(data, "stage2_asn_type")),
            )
        except ValueError as exc:  # ExpType/AsnType lookups; our own InvalidInputError is one too
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"invalid route: {exc}") from exc


def _field(data: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    if key not in data:
        raise InvalidInputError(f"invalid route: {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind):
        raise InvalidInputError(f"invalid route: {key}={value!r} is not a {kind.__name__}")
    return value


def _optional(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"invalid route: {key}={value!r} is not a string or null")
    return value


def _stage2_input(value: str | None) -> Stage2Input | None:
    if value not in (None, "rate", "rateints"):
        raise InvalidInputError(f"invalid route: stage2_input={value!r}")
    return cast(Stage2Input | None, value)


def _asn_type(value: str | None) -> AsnType | None:
    return None if value is None else AsnType(value)


def _read_exp_type(header: Mapping[str, object], table: RoutingTable, source: str | None) -> ExpType:
    text = header_str(header, "EXP_TYPE", source=source)
    if text is None:
        raise UnknownExposureTypeError(None, source)
    if text not in _EXP_TYPES or ExpType(text) not in table.exp_types:
        error = UnknownExposureTypeError(text, source)
        error.add_note(f"routing table: {table.path}")
        raise error
    return ExpType(text)


def _wfsc_applies(
    header: Mapping[str, object], table: RoutingTable, rule: RouteRule, is_tso: bool, source: str | None
) -> bool:
    wfsc = table.wfsc
    if wfsc is None or rule.stage2 != wfsc.if_stage2 or (is_tso and not wfsc.applies_to_tso):
        return False
    return header_str(header, "PATTTYPE", source=source) == wfsc.patttype


def route(
    header: Mapping[str, object], table: RoutingTable | None = None, *, source: str | None = None
) -> Route:
    """Route one exposure from its primary header.

    Pure: the result depends only on the header and the table.

    Parameters
    ----------
    header : Mapping[str, object]
        The primary header (upper-case keywords): EXP_TYPE, TSOVISIT (optional, FITS logical or
        ``'T'``/``'F'``/``'TRUE'``/``'FALSE'``; absent = F), PATTTYPE (optional).
    table : RoutingTable, optional
        The routing table; loaded from the shipped configuration when omitted (pass one in hot paths).
    source : str, optional
        The file the header came from, named in error messages.

    Returns
    -------
    Route

    Raises
    ------
    UnknownExposureTypeError
        EXP_TYPE is missing, blank, or not in the table. Not retriable.
    BadKeywordValueError
        EXP_TYPE is not a string, or TSOVISIT (or, for image2 routes, PATTTYPE) has an unusable value.
        Not retriable.
    ConfigError
        ``table`` was omitted and the default config is invalid. Not retriable.
    """
    table = table if table is not None else load_routing_table()
    exp_type = _read_exp_type(header, table, source)
    tsovisit = header_bool(header, "TSOVISIT", source=source)
    rule = table.match(exp_type, tsovisit)
    if rule is None:  # only a hand-edited table can lack a row for a listed EXP_TYPE; load rejects that
        raise UnknownExposureTypeError(exp_type, source)
    is_tso = rule.always_tso or (tsovisit and rule.tsovisit is True)
    if tsovisit and rule.tsovisit is None:
        log.debug("TSOVISIT=T ignored for %s: the mode does not allow TSO", exp_type)
    is_wfsc = _wfsc_applies(header, table, rule, is_tso, source)
    return _assemble(exp_type, tsovisit, rule, table, is_tso=is_tso, is_wfsc=is_wfsc)


def _assemble(
    exp_type: ExpType, tsovisit: bool, rule: RouteRule, table: RoutingTable, *, is_tso: bool, is_wfsc: bool
) -> Route:
    """Apply the WFS&C reroute and derive the stage-2 input and the ASN types."""
    stage2, stage3 = rule.stage2, rule.stage3
    if is_wfsc and table.wfsc is not None:
        stage2, stage3 = table.wfsc.stage2, table.wfsc.stage3
    registry = table.registry
    flags = {"is_tso": is_tso, "is_wfsc": is_wfsc, "nrslamp": rule.nrslamp}
    stage2_input: Stage2Input | None = None
    if stage2 is not None:
        stage2_input = rule.stage2_input or ("rateints" if is_tso else "rate")
    return Route(
        exp_type=exp_type,
        tsovisit=tsovisit,
        is_tso=is_tso,
        is_wfsc=is_wfsc,
        stage1=rule.stage1,
        stage2=stage2,
        stage3=stage3,
        stage2_input=stage2_input,
        asn_type=None if stage3 is None else registry.asn_type(stage3, **flags),
        stage2_asn_type=None if stage2 is None else registry.asn_type(stage2, **flags),
    )
