"""route(): WFS&C, header parsing and errors, derived fields, serialization, and a hypothesis property."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcal.errors import BadKeywordValueError, InvalidInputError, StreamcalError, UnknownExposureTypeError
from streamcal.routing import AsnType, ExpType, Route, RoutingTable, load_routing_table, route
from streamcal.routing.exptypes import Instrument, instrument_of

TABLE = load_routing_table()


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return TABLE


# --- WFS&C -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("patttype", ["WFSC", "wfsc", " WfSc "])
def test_wfsc_image_goes_to_wfs_image3(table: RoutingTable, patttype: str) -> None:
    result = route({"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": patttype}, table)
    assert result.is_wfsc is True
    assert (result.stage1, result.stage2, result.stage3) == (
        "calwebb_detector1",
        "calwebb_image2",
        "calwebb_wfs-image3",
    )
    assert result.asn_type is AsnType.WFS_IMAGE3
    assert result.stage2_asn_type is AsnType.IMAGE2
    assert result.stage2_input == "rate"


@pytest.mark.parametrize("exp_type", ["NIS_IMAGE", "FGS_IMAGE", "MIR_IMAGE", "NRS_IMAGE", "NRC_FOCUS"])
def test_wfsc_applies_to_any_image2_exposure(table: RoutingTable, exp_type: str) -> None:
    result = route({"EXP_TYPE": exp_type, "PATTTYPE": "WFSC"}, table)
    assert result.is_wfsc and result.stage3 == "calwebb_wfs-image3"


@pytest.mark.parametrize(
    "header",
    [
        {"EXP_TYPE": "NRC_WFSS", "PATTTYPE": "WFSC"},  # stage 2 is spec2
        {"EXP_TYPE": "NRC_DARK", "PATTTYPE": "WFSC"},  # no stage 2
        {"EXP_TYPE": "NRC_TSIMAGE", "PATTTYPE": "WFSC"},  # TSO keeps its TSO route
        {"EXP_TYPE": "MIR_IMAGE", "TSOVISIT": True, "PATTTYPE": "WFSC"},
        {"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "FULLBOX"},
        {"EXP_TYPE": "NRC_IMAGE"},
    ],
)
def test_wfsc_does_not_apply(table: RoutingTable, header: dict[str, object]) -> None:
    result = route(header, table)
    assert result.is_wfsc is False
    assert result.stage3 != "calwebb_wfs-image3"


def test_patttype_is_not_read_where_wfsc_cannot_apply(table: RoutingTable) -> None:
    # a junk PATTTYPE must not dead-letter a spectrum
    assert route({"EXP_TYPE": "NRS_IFU", "PATTTYPE": 7}, table).stage3 == "calwebb_spec3"
    with pytest.raises(BadKeywordValueError, match="PATTTYPE"):
        route({"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": 7}, table)


# --- EXP_TYPE parsing and errors ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nrc_image", "  NRC_IMAGE  ", "Nrc_Image\t", "fgs_id-stack"])
def test_exp_type_is_stripped_and_upper_cased(table: RoutingTable, value: str) -> None:
    result = route({"EXP_TYPE": value}, table)
    assert result.exp_type == value.strip().upper()
    assert isinstance(result.exp_type, ExpType)


def test_unknown_exp_type_names_value_and_file(table: RoutingTable) -> None:
    with pytest.raises(UnknownExposureTypeError) as info:
        route({"EXP_TYPE": "NRC_IMAGING"}, table, source="jw01234001001_02101_00001_nrca1_uncal.fits")
    message = str(info.value)
    assert "NRC_IMAGING" in message
    assert "jw01234001001_02101_00001_nrca1_uncal.fits" in message
    assert info.value.exp_type == "NRC_IMAGING"
    assert any("routing.yaml" in note for note in info.value.__notes__)
    assert not info.value.retriable


@pytest.mark.parametrize("header", [{}, {"EXP_TYPE": None}, {"EXP_TYPE": ""}, {"EXP_TYPE": "   "}])
def test_missing_exp_type(table: RoutingTable, header: dict[str, object]) -> None:
    with pytest.raises(UnknownExposureTypeError, match=r"EXP_TYPE is missing in a\.fits") as info:
        route(header, table, source="a.fits")
    assert info.value.exp_type is None


@pytest.mark.parametrize("value", [42, 3.5, True, ["NRC_IMAGE"], b"NRC_IMAGE"])
def test_non_string_exp_type(table: RoutingTable, value: object) -> None:
    with pytest.raises(BadKeywordValueError, match=r"EXP_TYPE=.* in b\.fits is a .*expected a string"):
        route({"EXP_TYPE": value}, table, source="b.fits")


# --- TSOVISIT parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "is_tso"),
    [(True, True), (False, False), ("T", True), ("F", False), ("true", True), (" FALSE ", False),
     (np.bool_(True), True), (None, False)],
)
def test_tsovisit_values(table: RoutingTable, value: object, is_tso: bool) -> None:
    result = route({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": value}, table)
    assert result.is_tso is is_tso
    assert result.stage3 == ("calwebb_tso3" if is_tso else "calwebb_spec3")


@pytest.mark.parametrize("value", ["yes", "", "1", 1, 0, 2.0, "TRUEISH"])
def test_malformed_tsovisit(table: RoutingTable, value: object) -> None:
    with pytest.raises(BadKeywordValueError, match=r"TSOVISIT=.* in c\.fits is not a FITS logical"):
        route({"EXP_TYPE": "MIR_IMAGE", "TSOVISIT": value}, table, source="c.fits")


def test_ignored_tsovisit_is_logged_at_debug(table: RoutingTable, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="streamcal.routing.route"):
        route({"EXP_TYPE": "NRC_IMAGE", "TSOVISIT": True}, table)
    assert "TSOVISIT=T ignored for NRC_IMAGE" in caplog.text


# --- derived fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"EXP_TYPE": "NRC_TSIMAGE"}, "rateints"),
        ({"EXP_TYPE": "MIR_IMAGE", "TSOVISIT": "T"}, "rateints"),
        ({"EXP_TYPE": "NIS_SOSS", "TSOVISIT": "T"}, "rateints"),
        ({"EXP_TYPE": "NRC_CORON"}, "rateints"),
        ({"EXP_TYPE": "MIR_LYOT"}, "rateints"),
        ({"EXP_TYPE": "MIR_4QPM"}, "rateints"),
        ({"EXP_TYPE": "NIS_AMI"}, "rateints"),
        ({"EXP_TYPE": "NRC_IMAGE"}, "rate"),
        ({"EXP_TYPE": "MIR_IMAGE"}, "rate"),
        ({"EXP_TYPE": "NIS_SOSS"}, "rate"),
        ({"EXP_TYPE": "NRS_MSASPEC"}, "rate"),
        ({"EXP_TYPE": "MIR_CORONCAL"}, "rate"),
        ({"EXP_TYPE": "NRC_DARK"}, None),
        ({"EXP_TYPE": "FGS_TRACK"}, None),
        ({"EXP_TYPE": "NRC_FLAT"}, None),
    ],
)
def test_stage2_input(table: RoutingTable, header: dict[str, object], expected: str | None) -> None:
    assert route(header, table).stage2_input == expected


@pytest.mark.parametrize(
    ("header", "asn_type", "stage2_asn_type"),
    [
        ({"EXP_TYPE": "NRC_IMAGE"}, "image3", "image2"),
        ({"EXP_TYPE": "NRS_IFU"}, "spec3", "spec2"),
        ({"EXP_TYPE": "NRC_CORON"}, "coron3", "image2"),
        ({"EXP_TYPE": "NIS_AMI"}, "ami3", "image2"),
        ({"EXP_TYPE": "NRC_TSIMAGE"}, "tso3", "tso-image2"),
        ({"EXP_TYPE": "NRS_BRIGHTOBJ"}, "tso3", "tso-spec2"),
        ({"EXP_TYPE": "MIR_LRS-SLITLESS", "TSOVISIT": True}, "tso3", "tso-spec2"),
        ({"EXP_TYPE": "MIR_LRS-SLITLESS"}, None, "spec2"),
        ({"EXP_TYPE": "NRC_IMAGE", "PATTTYPE": "WFSC"}, "wfs-image3", "image2"),
        ({"EXP_TYPE": "NRS_AUTOWAVE"}, None, "nrslamp-spec2"),
        ({"EXP_TYPE": "NRS_AUTOFLAT"}, None, "nrslamp-spec2"),
        ({"EXP_TYPE": "NRS_LAMP"}, None, "nrslamp-spec2"),
        ({"EXP_TYPE": "NRC_TACQ"}, None, "image2"),
        ({"EXP_TYPE": "MIR_DARKIMG"}, None, None),
    ],
)
def test_asn_types(
    table: RoutingTable, header: dict[str, object], asn_type: str | None, stage2_asn_type: str | None
) -> None:
    result = route(header, table)
    assert result.asn_type == asn_type
    assert result.stage2_asn_type == stage2_asn_type


def test_every_route_has_consistent_fields(table: RoutingTable) -> None:
    for exp_type in ExpType:
        for tsovisit in (False, True):
            r = route({"EXP_TYPE": exp_type.value, "TSOVISIT": tsovisit}, table)
            assert (r.stage2 is None) == (r.stage2_input is None) == (r.stage2_asn_type is None)
            assert (r.stage3 is None) == (r.asn_type is None)
            assert r.asn_type is None or r.asn_type.level == 3
            assert r.stage2_asn_type is None or r.stage2_asn_type.level == 2


def test_stages_and_next_stage(table: RoutingTable) -> None:
    r = route({"EXP_TYPE": "NRC_IMAGE"}, table)
    assert r.stages == ("calwebb_detector1", "calwebb_image2", "calwebb_image3")
    assert r.next_stage("calwebb_detector1") == "calwebb_image2"
    assert r.next_stage("calwebb_image3") is None
    assert route({"EXP_TYPE": "FGS_ACQ1"}, table).next_stage("calwebb_guider") is None
    with pytest.raises(ValueError, match="calwebb_spec2"):
        r.next_stage("calwebb_spec2")


def test_default_table_is_loaded_when_omitted() -> None:
    assert route({"EXP_TYPE": "NRC_IMAGE"}) == route({"EXP_TYPE": "NRC_IMAGE"}, TABLE)


def test_route_is_frozen(table: RoutingTable) -> None:
    r = route({"EXP_TYPE": "NRC_IMAGE"}, table)
    with pytest.raises(AttributeError):
        r.stage1 = "calwebb_dark"  # type: ignore[misc]
    assert not hasattr(r, "__dict__")


@pytest.mark.parametrize(("exp_type", "instrument"), [
    ("FGS_ID-STACK", Instrument.FGS), ("MIR_4QPM", Instrument.MIRI), ("NRC_CORON", Instrument.NIRCAM),
    ("NIS_AMI", Instrument.NIRISS), ("NRS_IFU", Instrument.NIRSPEC),
])
def test_instrument_of(exp_type: str, instrument: Instrument) -> None:
    assert instrument_of(ExpType(exp_type)) is instrument


def test_instrument_of_rejects_unknown_prefix() -> None:
    with pytest.raises(ValueError, match="XYZ_IMAGE"):
        instrument_of("XYZ_IMAGE")


def test_exptype_spelling() -> None:
    assert ExpType.FGS_ID_STACK == "FGS_ID-STACK"
    assert ExpType.MIR_LRS_FIXEDSLIT == "MIR_LRS-FIXEDSLIT"
    assert ExpType.MIR_FLATIMAGE_EXT == "MIR_FLATIMAGE-EXT"


# --- serialization -----------------------------------------------------------------------------------


def test_to_dict_round_trips_through_json_for_every_route(table: RoutingTable) -> None:
    for exp_type in ExpType:
        for header in ({"TSOVISIT": False}, {"TSOVISIT": True}, {"PATTTYPE": "WFSC"}):
            r = route({"EXP_TYPE": exp_type.value, **header}, table)
            data = json.loads(json.dumps(r.to_dict()))
            assert Route.from_dict(data) == r
            assert all(v is None or type(v) in (str, bool) for v in r.to_dict().values())


def test_from_dict_ignores_unknown_keys(table: RoutingTable) -> None:
    r = route({"EXP_TYPE": "NIS_AMI"}, table)
    assert Route.from_dict({**r.to_dict(), "future_field": 1}) == r


@pytest.mark.parametrize(
    "change",
    [
        {"exp_type": "NRC_IMAGING"},
        {"exp_type": 5},
        {"is_tso": "yes"},
        {"stage2": 3},
        {"stage2_input": "cal"},
        {"asn_type": "image4"},
    ],
)
def test_from_dict_rejects_bad_values(table: RoutingTable, change: dict[str, object]) -> None:
    data = {**route({"EXP_TYPE": "NRC_IMAGE"}, table).to_dict(), **change}
    with pytest.raises(InvalidInputError, match="invalid route"):
        Route.from_dict(data)


def test_from_dict_rejects_missing_keys(table: RoutingTable) -> None:
    data = route({"EXP_TYPE": "NRC_IMAGE"}, table).to_dict()
    del data["stage1"]
    with pytest.raises(InvalidInputError, match="'stage1' is missing"):
        Route.from_dict(data)


# --- property ----------------------------------------------------------------------------------------

_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from([e.value for e in ExpType]), st.sampled_from(["T", "F", "TRUE", "false", "WFSC", "wfsc"]),
    st.lists(st.integers(), max_size=2), st.binary(max_size=4),
)
_headers = st.dictionaries(
    st.sampled_from(["EXP_TYPE", "TSOVISIT", "PATTTYPE", "VISITYPE", "exp_type", "FILTER"]), _values
)


@given(header=_headers)
def test_route_only_raises_streamcal_errors(header: dict[str, object]) -> None:
    try:
        result = route(header, TABLE, source="hypothesis.fits")
    except StreamcalError as exc:
        assert "hypothesis.fits" in str(exc) or isinstance(exc, UnknownExposureTypeError)
    else:
        assert result.exp_type in ExpType
        assert Route.from_dict(result.to_dict()) == result
