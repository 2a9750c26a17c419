"""Level-3 rules: grouping keys, completeness, member types, product and file names, building an ASN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcal.associations import (
    asn_file_name,
    build_asn,
    candidate_key,
    expected_members,
    is_complete,
    is_level3_member,
    level3_product_name,
    member_exptype,
    optical_element,
    read_asn,
    write_asn,
)
from streamcal.datamodels.naming import product_file
from streamcal.errors import AssociationError, BadKeywordValueError, MissingKeywordError
from streamcal.routing import AsnType

Header = dict[str, object]


def nircam(**changes: object) -> Header:
    header: Header = {
        "PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "VISITGRP": "02", "SEQ_ID": "1",
        "ACT_ID": "01", "EXPOSURE": "00001", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1",
        "EXP_TYPE": "NRC_IMAGE", "FILTER": "F200W", "PUPIL": "CLEAR", "SUBARRAY": "FULL",
        "NUMDTHPT": 4, "PATT_NUM": 1, "TARGETID": 1, "TSOVISIT": False,
    }
    header.update(changes)
    return header


def dither(n: int = 4, **changes: object) -> list[Header]:
    return [nircam(EXPOSURE=f"{i:05d}", PATT_NUM=i, NUMDTHPT=n, **changes) for i in range(1, n + 1)]


def name(header: Header) -> str:
    return f"jw01234{header['OBSERVTN']}001_02101_{header['EXPOSURE']}_{str(header['DETECTOR']).lower()}_cal.fits"


# --- member types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "exptype"),
    [({}, "science"), ({"IS_PSF": True}, "psf"), ({"IS_PSF": "T"}, "psf"), ({"BKGDTARG": True}, "background"),
     ({"IS_PSF": False, "BKGDTARG": "F"}, "science")],
)
def test_member_exptype(changes: Header, exptype: str) -> None:
    assert member_exptype(nircam(**changes)) == exptype


def test_member_exptype_rejects_junk() -> None:
    with pytest.raises(BadKeywordValueError, match="IS_PSF"):
        member_exptype(nircam(IS_PSF="maybe"), source="x.fits")


def test_image3_members_are_all_science() -> None:
    # background-target images form their own image3 product (jwst Asn_Lv3ImageBackground)
    bkg = dither(2, BKGDTARG=True, TARGETID=7)
    assert {member_exptype(h, asn_type="image3") for h in bkg} == {"science"}
    assert candidate_key(bkg[0], asn_type="image3").endswith(":t007:bkg")
    assert is_complete("image3", bkg)
    asn = build_asn("image3", [(name(h), h) for h in bkg])
    assert asn.products[0].name == "jw01234-o001_t007_nircam_clear-f200w"
    assert [m.exptype for m in asn.products[0].members] == ["science", "science"]


def test_imprints_are_not_level3_members() -> None:
    assert is_level3_member(nircam())
    assert not is_level3_member(nircam(IS_IMPRT=True))


# --- image3: a 4-point dither ------------------------------------------------------------------------


def test_four_point_dither_is_one_association_of_four() -> None:
    headers = dither(4)
    keys = {candidate_key(h, asn_type="image3") for h in headers}
    assert keys == {"image3:jw01234:o001:nircam:clear-f200w:-:full:t001"}
    assert expected_members(headers[0], asn_type="image3") == 4
    assert not is_complete("image3", headers[:3])
    assert is_complete("image3", headers)


def test_undithered_image_expects_one() -> None:
    header = nircam()
    del header["NUMDTHPT"]
    assert expected_members(header, asn_type=AsnType.IMAGE3) == 1
    assert is_complete(AsnType.IMAGE3, [header])


@pytest.mark.parametrize(
    "changes",
    [{"FILTER": "F150W"}, {"PUPIL": "F162M"}, {"OBSERVTN": "002"}, {"PROGRAM": "01235"}, {"SUBARRAY": "SUB640"},
     {"TARGETID": 2}, {"BKGDTARG": True}, {"INSTRUME": "NIRISS"}],
)
def test_image3_key_separates(changes: Header) -> None:
    assert candidate_key(nircam(**changes), asn_type="image3") != candidate_key(nircam(), asn_type="image3")


@pytest.mark.parametrize("changes", [{"EXPOSURE": "00007"}, {"PATT_NUM": 3}, {"DETECTOR": "NRCA2"},
                                     {"FILTER": " f200w "}, {"PROGRAM": 1234}, {"OBSERVTN": 1}])
def test_image3_key_ignores(changes: Header) -> None:
    assert candidate_key(nircam(**changes), asn_type="image3") == candidate_key(nircam(), asn_type="image3")


def test_bad_dither_count() -> None:
    with pytest.raises(BadKeywordValueError, match=r"NUMDTHPT=0 in x\.fits is not positive"):
        expected_members(nircam(NUMDTHPT=0), asn_type="image3", source="x.fits")
    with pytest.raises(BadKeywordValueError, match="NUMDTHPT"):
        expected_members(nircam(NUMDTHPT="four"), asn_type="image3")


def test_missing_program_is_a_missing_keyword() -> None:
    header = nircam()
    del header["PROGRAM"]
    with pytest.raises(MissingKeywordError, match=r"PROGRAM is missing .* of y\.fits"):
        candidate_key(header, asn_type="image3", source="y.fits")


@pytest.mark.parametrize("asn_type", ["image2", "tso-spec2", "image9"])
def test_level2_and_unknown_types_have_no_candidates(asn_type: str) -> None:
    with pytest.raises(AssociationError):
        candidate_key(nircam(), asn_type=asn_type)


# --- WFS&C pairs -------------------------------------------------------------------------------------


def wfsc(**changes: object) -> Header:
    base: Header = {"PATTTYPE": "WFSC", "FILTER": "F212N", "PUPIL": "WLM8", "NUMDTHPT": 2,
                    "DETECTOR": "NRCA3", "OBSERVTN": "173", "ACT_ID": "04", "TARGETID": 35}
    return nircam(**{**base, **changes})


def test_wfsc_pair_shares_act_id_and_detector() -> None:
    pair = [wfsc(EXPOSURE="00001"), wfsc(EXPOSURE="00002")]
    assert len({candidate_key(h, asn_type="wfs-image3") for h in pair}) == 1
    assert expected_members(pair[0], asn_type="wfs-image3") == 2
    assert not is_complete("wfs-image3", pair[:1])
    assert is_complete("wfs-image3", pair)
    assert not is_complete("wfs-image3", [*pair, wfsc(EXPOSURE="00003")])


@pytest.mark.parametrize("changes", [{"ACT_ID": "05"}, {"DETECTOR": "NRCA4"}, {"VISIT": "002"}])
def test_wfsc_key_separates(changes: Header) -> None:
    assert candidate_key(wfsc(**changes), asn_type="wfs-image3") != candidate_key(wfsc(), asn_type="wfs-image3")


def test_wfsc_act_id_is_normalised() -> None:
    assert candidate_key(wfsc(ACT_ID=4), asn_type="wfs-image3") == candidate_key(wfsc(), asn_type="wfs-image3")


def test_wfsc_product_name_matches_jwst_example() -> None:
    # jwst_spec §1.11: jw02586-o173_t035_nircam_f212n-wlm8-nrca3_wfscmb-04.fits
    pair = [wfsc(PROGRAM="02586", EXPOSURE="00001"), wfsc(PROGRAM="02586", EXPOSURE="00002")]
    product = level3_product_name(pair, asn_type="wfs-image3")
    assert product == "jw02586-o173_t035_nircam_f212n-wlm8-nrca3_{suffix}-04"
    assert product_file(product, "wfscmb") == "jw02586-o173_t035_nircam_f212n-wlm8-nrca3_wfscmb-04.fits"
    asn = build_asn("wfs-image3", [(name(h), h) for h in pair])
    assert asn.asn_rule == "Asn_Lv3WFSCMB"
    with pytest.raises(AssociationError, match="exactly 2 members, got 1"):
        build_asn("wfs-image3", [(name(pair[0]), pair[0])])


# --- TSO segments ------------------------------------------------------------------------------------


def segments(total: int = 3) -> list[Header]:
    return [nircam(EXP_TYPE="NRC_TSIMAGE", TSOVISIT=True, SUBARRAY="SUB64P", EXSEGTOT=total, EXSEGNUM=i,
                   NUMDTHPT=1) for i in range(1, total + 1)]


def test_tso_segments_form_one_association() -> None:
    segs = segments(3)
    assert len({candidate_key(h, asn_type="tso3") for h in segs}) == 1
    assert expected_members(segs[0], asn_type="tso3") == 3
    assert not is_complete("tso3", segs[:2])
    assert not is_complete("tso3", [segs[0], segs[0], segs[1]])  # a repeat is not a new segment
    assert is_complete("tso3", list(reversed(segs)))
    assert not is_complete("tso3", [])


def test_unsegmented_tso_exposure() -> None:
    header = nircam(EXP_TYPE="NRC_TSGRISM", TSOVISIT=True)
    assert expected_members(header, asn_type="tso3") == 1
    assert is_complete("tso3", [header])


def test_tso_key_separates_exp_types() -> None:
    a = candidate_key(nircam(EXP_TYPE="NRC_TSIMAGE"), asn_type="tso3")
    assert a != candidate_key(nircam(EXP_TYPE="NRC_TSGRISM"), asn_type="tso3")


# --- science + PSF -----------------------------------------------------------------------------------


def coron(**changes: object) -> Header:
    base: Header = {"EXP_TYPE": "NRC_CORON", "FILTER": "F335M", "PUPIL": "MASKRND", "SUBARRAY": "SUB320A335R",
                    "CORONMSK": "MASKA335R", "NUMDTHPT": 1}
    return nircam(**{**base, **changes})


def test_science_and_psf_share_a_candidate() -> None:
    science, psf = coron(TARGETID=1), coron(TARGETID=2, IS_PSF=True, EXPOSURE="00002")
    for kind in ("coron3", "ami3"):
        assert candidate_key(science, asn_type=kind) == candidate_key(psf, asn_type=kind)
        assert expected_members(science, asn_type=kind) == 2
        assert not is_complete(kind, [science])
        assert not is_complete(kind, [psf])
        assert is_complete(kind, [science, psf])
    assert [member_exptype(h) for h in (science, psf)] == ["science", "psf"]


def test_dithered_psf_waits_for_every_point() -> None:
    science = coron()
    psfs = [coron(IS_PSF=True, NUMDTHPT=5, EXPOSURE=f"{i:05d}", TARGETID=2) for i in range(2, 7)]
    assert not is_complete("coron3", [science, *psfs[:4]])
    assert is_complete("coron3", [science, *psfs])


def test_coron3_asn() -> None:
    science, psf = coron(TARGETID=1), coron(TARGETID=2, IS_PSF=True, EXPOSURE="00002")
    asn = build_asn("coron3", [(name(psf), psf), (name(science), science)])
    (product,) = asn.products
    assert product.name == "jw01234-o001_t001_nircam_f335m-maskrnd-sub320a335r"
    assert [(m.expname, m.exptype) for m in product.members] == [(name(science), "science"), (name(psf), "psf")]
    assert asn.target == "t001"
    with pytest.raises(AssociationError, match="coron3: needs at least one psf member"):
        build_asn("coron3", [(name(science), science)])
    assert build_asn("ami3", [(name(science), science)]).products[0].members[0].exptype == "science"


# --- names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (nircam(), "jw01234-o001_t001_nircam_clear-f200w"),
        (nircam(SUBARRAY="SUB640"), "jw01234-o001_t001_nircam_clear-f200w-sub640"),
        (nircam(PUPIL=None), "jw01234-o001_t001_nircam_f200w"),
        (nircam(INSTRUME="MIRI", FILTER="F770W", PUPIL="N/A", OBSERVTN=2, TARGETID=12),
         "jw01234-o002_t012_miri_f770w"),
        (nircam(INSTRUME="NIRSPEC", EXP_TYPE="NRS_FIXEDSLIT", FILTER="CLEAR", PUPIL=None, GRATING="PRISM",
                FXD_SLIT="S1600A1", SUBARRAY="SUB512", PROGRAM="01366", OBSERVTN="004"),
         "jw01366-o004_t001_nirspec_clear-prism-s1600a1-sub512"),
        (nircam(INSTRUME="NIRSPEC", EXP_TYPE="NRS_IFU", FILTER="F290LP", PUPIL=None, GRATING="G395H",
                FXD_SLIT="S200A1"), "jw01234-o001_t001_nirspec_f290lp-g395h"),
        (nircam(FILTER="", PUPIL="NULL"), "jw01234-o001_t001_nircam_clear"),
    ],
)
def test_level3_product_name(header: Header, expected: str) -> None:
    assert level3_product_name([header], asn_type="image3") == expected


def test_product_name_uses_science_members_and_acid() -> None:
    psf = nircam(IS_PSF=True, TARGETID=9)
    assert level3_product_name([psf, nircam()], asn_type="coron3", acid="c1001").startswith("jw01234-c1001_t001_")
    with pytest.raises(AssociationError, match="no science member"):
        level3_product_name([psf], asn_type="coron3")


def test_optical_element_sorting() -> None:
    assert optical_element(nircam(FILTER="F444W", PUPIL="F470N")) == "f444w-f470n"
    assert optical_element(nircam(FILTER="GR150C", PUPIL="F200W")) == "f200w-gr150c"
    with pytest.raises(BadKeywordValueError, match="FILTER"):
        optical_element(nircam(FILTER=True))


def test_asn_file_name() -> None:
    got = asn_file_name(program=1234, acid="O001", asn_type="image3", version_id="20240101t120000")
    assert got == "jw01234-o001_20240101t120000_image3_00001_asn.json"
    assert asn_file_name(program=1, acid="c1001", asn_type=AsnType.WFS_IMAGE3, version_id="20240101t120000",
                         sequence=12).endswith("_wfs-image3_00012_asn.json")
    with pytest.raises(AssociationError, match="yyyymmddthhmmss"):
        asn_file_name(program=1, acid="o001", asn_type="image3", version_id="2024-01-01")
    with pytest.raises(AssociationError, match="unknown asn_type"):
        asn_file_name(program=1, acid="o001", asn_type="image4", version_id="20240101t120000")


# --- build_asn ---------------------------------------------------------------------------------------


def test_build_image3_and_round_trip(tmp_path: Path) -> None:
    headers = dither(4)
    asn = build_asn("image3", [(name(h), h) for h in headers], version_id="20240101t120000",
                    code_version="streamcal 0.1.0")
    assert asn.asn_type is AsnType.IMAGE3 and asn.asn_id == "o001" and asn.program == "01234"
    assert asn.asn_rule == "Asn_Lv3Image"
    assert asn.products[0].name == "jw01234-o001_t001_nircam_clear-f200w"
    assert len(asn.products[0].by_type("science")) == 4
    file_name = asn_file_name(program=1234, acid=asn.asn_id, asn_type=asn.asn_type, version_id="20240101t120000")
    path = write_asn(asn, tmp_path / file_name)
    assert read_asn(path) == asn
    assert json.loads(path.read_text())["constraints"] == "candidate_key=" + candidate_key(
        headers[0], asn_type="image3")


@given(order=st.permutations(range(4)))
def test_build_asn_does_not_depend_on_arrival_order(order: list[int]) -> None:
    headers = dither(4)
    members = [(name(headers[i]), headers[i]) for i in order]
    assert build_asn("image3", members) == build_asn("image3", [(name(h), h) for h in headers])


@pytest.mark.parametrize(
    ("asn_type", "members", "message"),
    [
        ("image3", [], "no members"),
        ("image2", [(name(nircam()), nircam())], "level-2 association"),
        ("image3", [(name(nircam()), nircam()), ("b.fits", nircam(FILTER="F150W"))], "different associations"),
        ("spec3", [(name(nircam()), nircam(IS_IMPRT=True))], "imprint exposures are not level-3 members"),
        ("spec3", [("bkg.fits", nircam(BKGDTARG=True))], "no science member"),
    ],
)
def test_build_asn_rejects(asn_type: str, members: list[tuple[str, Header]], message: str) -> None:
    with pytest.raises(AssociationError, match=message):
        build_asn(asn_type, members)


@pytest.mark.parametrize("slit", ["../../../tmp/evil", "a/b", "S200A1 x"])
def test_a_header_value_that_holds_a_path_cannot_become_a_product_name(slit: str) -> None:
    """Review of issue 13: the tracker writes ``<product>_<type>_asn.json`` and stage 3 writes files named after
    the product; FXD_SLIT (or any header value in the name) holding a path is refused, not written."""
    header = nircam(INSTRUME="NIRSPEC", EXP_TYPE="NRS_FIXEDSLIT", FILTER="CLEAR", PUPIL=None, GRATING="PRISM",
                    FXD_SLIT=slit)
    with pytest.raises(AssociationError, match="not a plain file name"):
        level3_product_name([header], asn_type="spec3")
