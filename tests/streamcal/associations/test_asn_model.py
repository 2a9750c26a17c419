"""ASN JSON: round trips, atomic writes, member paths, and every malformed case."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcal.associations import (
    Asn,
    AsnMember,
    AsnProduct,
    asn_from_dict,
    member_paths,
    read_asn,
    to_json,
    write_asn,
)
from streamcal.errors import AssociationError
from streamcal.routing import AsnType

# The shape jwst writes (keys as in jwst_spec §6.1).
LEVEL3 = {
    "asn_type": "image3",
    "asn_rule": "candidate_Asn_Lv3Image",
    "version_id": "20240101t000000",
    "code_version": "1.14.0",
    "degraded_status": "No known degraded exposures in association.",
    "program": "01234",
    "constraints": "DMSAttrConstraint({'name': 'program', 'sources': ['program'], 'value': '1234'})",
    "asn_id": "o001",
    "target": "t001",
    "asn_pool": "jw01234_20240101t000000_pool.csv",
    "products": [
        {
            "name": "jw01234-o001_t001_nircam_clear-f200w",
            "members": [
                {"expname": "jw01234001001_02101_00001_nrca1_cal.fits", "exptype": "science",
                 "exposerr": "null", "asn_candidate": "[('o001', 'observation')]"},
                {"expname": "jw01234001001_02101_00002_nrca1_cal.fits", "exptype": "science"},
            ],
        }
    ],
}
LEVEL2 = {
    "asn_type": "image2",
    "asn_id": "a3001",
    "asn_pool": "pool",
    "program": "01234",
    "products": [
        {"name": "jw01234001001_02101_00001_nrca1",
         "members": [{"expname": "jw01234001001_02101_00001_nrca1_rate.fits", "exptype": "science"},
                     {"expname": "bkg_rate.fits", "exptype": "background"}]}
    ],
}


def _doc(base: dict[str, object], path: tuple[object, ...], value: object) -> dict[str, object]:
    """A deep copy of ``base`` with the item at ``path`` replaced (or deleted when value is ...)."""
    doc = copy.deepcopy(base)
    target: object = doc
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    if value is ...:
        del target[path[-1]]  # type: ignore[attr-defined]
    else:
        target[path[-1]] = value  # type: ignore[index]
    return doc


def test_read_level3(tmp_path: Path) -> None:
    path = tmp_path / "jw01234-o001_20240101t000000_image3_00001_asn.json"
    path.write_text(json.dumps(LEVEL3))
    asn = read_asn(path)
    assert asn.asn_type is AsnType.IMAGE3 and asn.level == 3
    assert asn.asn_id == "o001" and asn.program == "01234" and asn.target == "t001"
    (product,) = asn.products
    assert product.name == "jw01234-o001_t001_nircam_clear-f200w"
    assert [m.exptype for m in product.members] == ["science", "science"]
    assert product.members[0].asn_candidate == "[('o001', 'observation')]"


@pytest.mark.parametrize("doc", [LEVEL3, LEVEL2], ids=["level3", "level2"])
def test_round_trip_through_file(tmp_path: Path, doc: dict[str, object]) -> None:
    asn = read_asn(json.dumps(doc))
    path = write_asn(asn, tmp_path / "x_asn.json")
    assert read_asn(path) == asn
    assert json.loads(path.read_text()) == asn.to_dict()
    assert json.loads(to_json(asn)) == doc  # nothing lost, nothing added


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    asn = read_asn(json.dumps(LEVEL3))
    path = tmp_path / "a_asn.json"
    path.write_text("old")
    write_asn(asn, path)
    write_asn(asn, path)  # repeating is harmless
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_asn.json"]
    assert read_asn(path) == asn


def test_failed_write_removes_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_asn(read_asn(json.dumps(LEVEL3)), tmp_path / "a_asn.json")
    assert list(tmp_path.iterdir()) == []


def test_member_paths(tmp_path: Path) -> None:
    asn = read_asn(json.dumps(_doc(LEVEL2, ("products", 0, "members", 1, "expname"), "/abs/bkg_rate.fits")))
    assert member_paths(asn, tmp_path) == [tmp_path / "jw01234001001_02101_00001_nrca1_rate.fits",
                                           Path("/abs/bkg_rate.fits")]
    assert member_paths(asn, tmp_path, exptypes=["background"]) == [Path("/abs/bkg_rate.fits")]


def test_lenient_reading() -> None:
    doc = _doc(LEVEL3, ("program",), 1234)
    doc["products"][0]["members"][0]["exptype"] = "SCIENCE"  # type: ignore[index]
    doc["future_key"] = {"x": 1}
    asn = read_asn(json.dumps(doc))
    assert asn.program == "01234"
    assert asn.products[0].members[0].exptype == "science"


def test_product_by_type() -> None:
    product = AsnProduct("p", (AsnMember("a", "science"), AsnMember("b", "psf"), AsnMember("c", "psf")))
    assert [m.expname for m in product.by_type("psf")] == ["b", "c"]
    asn = Asn(asn_type=AsnType.CORON3, asn_id="o001", products=(product,))
    assert json.loads(to_json(asn)) == {"asn_type": "coron3", "asn_id": "o001", "products": [
        {"name": "p", "members": [{"expname": "a", "exptype": "science"}, {"expname": "b", "exptype": "psf"},
                                  {"expname": "c", "exptype": "psf"}]}]}


P0 = ("products", 0)
M0 = (*P0, "members", 0)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_doc(LEVEL3, ("asn_type",), ...), r"required key 'asn_type' is missing"),
        (_doc(LEVEL3, ("asn_id",), ...), r"required key 'asn_id' is missing"),
        (_doc(LEVEL3, ("products",), ...), r"'products' must be a non-empty list"),
        (_doc(LEVEL3, ("products",), []), r"'products' must be a non-empty list"),
        (_doc(LEVEL3, ("asn_type",), "image4"), r"unknown asn_type 'image4'"),
        (_doc(LEVEL3, ("asn_type",), 3), r"asn_type=3 is not a string"),
        (_doc(LEVEL3, ("asn_id",), "  "), r"asn_id is blank"),
        (_doc(LEVEL3, ("target",), ["t001"]), r"target=\['t001'\] is not a string"),
        (_doc(LEVEL3, (*P0, "name"), ...), r"products\[0\]: required key 'name' is missing"),
        (_doc(LEVEL3, (*P0, "members"), ...), r"'members' must be a non-empty list"),
        (_doc(LEVEL3, (*P0, "members"), []), r"'members' must be a non-empty list"),
        (_doc(LEVEL3, (*P0,), "jw01234"), r"a product must be an object"),
        (_doc(LEVEL3, (*M0,), "file.fits"), r"a member must be an object"),
        (_doc(LEVEL3, (*M0, "expname"), ...), r"members\[0\]: required key 'expname' is missing"),
        (_doc(LEVEL3, (*M0, "exptype"), ...), r"required key 'exptype' is missing"),
        (_doc(LEVEL3, (*M0, "exptype"), "imprint"), r"unknown member exptype 'imprint'"),
        (_doc(LEVEL3, (*M0, "exptype"), "dark"), r"unknown member exptype 'dark'"),
        (_doc(_doc(LEVEL3, (*M0, "exptype"), "psf"), (*P0, "members", 1, "exptype"), "background"),
         r"has no science member"),
        (_doc(LEVEL2, (*P0, "members", 1, "exptype"), "science"), r"level-2 product .* 2 science members"),
        (_doc(LEVEL2, (*P0, "members", 0, "exptype"), "psf"), r"unknown member exptype 'psf'"),
    ],
)
def test_malformed_asn(tmp_path: Path, doc: dict[str, object], message: str) -> None:
    path = tmp_path / "bad_asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match=message) as info:
        read_asn(path)
    assert str(path) in str(info.value)
    assert not info.value.retriable


@pytest.mark.parametrize("text", ["{", "{'asn_type': 'image3'}", "{} extra", "[1, 2]", "null", "\x00"])
def test_malformed_json(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad_asn.json"
    path.write_text(text)
    with pytest.raises(AssociationError, match=r"bad_asn\.json"):
        read_asn(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AssociationError, match=r"missing_asn\.json: cannot read association"):
        read_asn(tmp_path / "missing_asn.json")
    (tmp_path / "binary_asn.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(AssociationError, match=r"binary_asn\.json"):
        read_asn(tmp_path / "binary_asn.json")


def test_text_input_names_itself_in_errors() -> None:
    with pytest.raises(AssociationError, match="<asn text>: malformed JSON"):
        read_asn("{not json")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(doc=st.dictionaries(st.sampled_from([*LEVEL3, "x"]), _json))
def test_arbitrary_documents_only_raise_association_error(doc: dict[str, object]) -> None:
    try:
        read_asn(json.dumps(doc))
    except AssociationError as exc:
        assert str(exc).startswith("<asn text>")


@given(doc=_json)
def test_arbitrary_json_values_only_raise_association_error(doc: object) -> None:
    try:
        asn_from_dict(doc, source="x.json")
    except AssociationError as exc:
        assert str(exc).startswith("x.json")
