from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcal.datamodels import ExposureName, identity_conflict, input_root, split_suffix
from streamcal.errors import BadKeywordValueError, MissingKeywordError
from tests.conftest import raw_primary


def test_root_and_filename_follow_the_jwst_pattern():
    name = ExposureName.from_header(raw_primary())
    assert name.root == "jw01234001001_02101_00001_nrca1"
    assert name.filename("rate") == "jw01234001001_02101_00001_nrca1_rate.fits"


def test_segments_appear_only_for_multi_segment_exposures():
    seg = ExposureName.from_header(raw_primary(EXSEGNUM=2, EXSEGTOT=3))
    assert seg.root == "jw01234001001_02101_00001-seg002_nrca1"
    assert ExposureName.from_header(raw_primary(EXSEGNUM=1, EXSEGTOT=1)).segment is None


def test_base36_activity_is_kept():
    assert ExposureName.from_header(raw_primary(ACT_ID="1a")).root.split("_")[1] == "0211a"


@given(program=st.integers(0, 99999), obs=st.integers(0, 999), visit=st.integers(0, 999),
       gg=st.integers(0, 99), s=st.integers(0, 9), act=st.from_regex(r"[0-9a-z]{2}", fullmatch=True),
       exp=st.integers(0, 99999), seg=st.none() | st.integers(1, 999),
       det=st.sampled_from(["nrca1", "nrcblong", "mirimage", "nis", "guider1", "nrs2"]),
       suffix=st.sampled_from(["uncal", "rate", "rateints", "cal", "i2d"]))
def test_parse_inverts_filename(program, obs, visit, gg, s, act, exp, seg, det, suffix):
    name = ExposureName(program, obs, visit, gg, s, act, exp, det, seg)
    assert ExposureName.parse(name.filename(suffix)) == name
    assert split_suffix(name.filename(suffix)) == (name.root, suffix)


def test_missing_and_bad_keywords_are_typed():
    with pytest.raises(MissingKeywordError, match="EXPOSURE"):
        ExposureName.from_header(raw_primary(EXPOSURE=None), source="x.fits")
    with pytest.raises(BadKeywordValueError, match="PROGRAM"):
        ExposureName.from_header(raw_primary(PROGRAM="abc"))
    with pytest.raises(BadKeywordValueError, match="program"):
        ExposureName.from_header(raw_primary(PROGRAM="123456"))
    with pytest.raises(BadKeywordValueError, match="not a JWST exposure file name"):
        ExposureName.parse("notes.txt")


@pytest.mark.parametrize(("name", "root"), [
    ("jw01234001001_02101_00001_nrca1_uncal.fits", "jw01234001001_02101_00001_nrca1"),
    ("jw01019001001_gs-acq1_2022117003102_uncal.fits", "jw01019001001_gs-acq1_2022117003102"),  # real guider
    ("jw01234001001_02101_00001-seg002_nrca1_rateints.fits", "jw01234001001_02101_00001-seg002_nrca1"),
    ("darks-from-tuesday_uncal.fits", "darks-from-tuesday"),
    ("my_file.fits", "my_file"),          # "file" is no product suffix: the whole stem
])
def test_products_are_named_after_the_input_file(name, root):
    assert input_root(name) == root


def test_a_name_that_disagrees_with_the_header_is_reported():
    header = {"PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "VISITGRP": "02", "SEQ_ID": "1",
              "ACT_ID": "01", "EXPOSURE": "00001", "DETECTOR": "NRCA1"}
    assert identity_conflict("jw01234001001_02101_00001_nrca1_uncal.fits", header) is None
    message = identity_conflict("jw01234001001_02101_00002_nrca1_uncal.fits", header)
    assert message is not None and "jw01234001001_02101_00001_nrca1" in message and "named after the file" in message
    assert identity_conflict("jw01019001001_gs-acq1_2022117003102_uncal.fits", {"DETECTOR": "GUIDER1"}) is None
