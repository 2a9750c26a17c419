"""Named programs: the header relations the router and the association tracker rely on."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from streamcal.routing import ExpType
from streamcal.simulate import PROGRAMS, program_specs, simulate_program


def test_imaging_dither_is_a_four_point_pattern(tmp_path):
    result = simulate_program("imaging_dither", tmp_path, seed=2)
    heads = [e.header for e in result.exposures]
    assert len(heads) == 4
    assert {h["EXP_TYPE"] for h in heads} == {"NRC_IMAGE"} and {h["NUMDTHPT"] for h in heads} == {4}
    assert [h["PATT_NUM"] for h in heads] == [1, 2, 3, 4]
    assert {h["PATTTYPE"] for h in heads} == {"INTRAMODULEX"}
    assert len({(h["OBSERVTN"], h["VISIT"], h["TARGETID"], h["FILTER"]) for h in heads}) == 1
    assert len({e.root for e in result.exposures}) == 4
    pointings = {fits.getheader(e.path, "SCI")["RA_REF"] for e in result.exposures}
    assert len(pointings) == 4  # each dither points elsewhere
    assert all(e.path.parent == tmp_path for e in result.exposures)


def test_wfsc_is_a_pair_with_the_same_activity_and_detector(tmp_path):
    heads = [e.header for e in simulate_program("wfsc", tmp_path).exposures]
    assert len(heads) == 2
    assert {h["PATTTYPE"] for h in heads} == {"WFSC"}
    assert {h["VISITYPE"] for h in heads} == {"PRIME_WFSC_ROUTINE"}
    assert heads[0]["ACT_ID"] == heads[1]["ACT_ID"] and heads[0]["DETECTOR"] == heads[1]["DETECTOR"]
    assert heads[0]["EXPOSURE"] != heads[1]["EXPOSURE"]


def test_tso_is_one_exposure_in_segments(tmp_path):
    result = simulate_program("tso", tmp_path)
    heads = [e.header for e in result.exposures]
    assert [(h["EXSEGNUM"], h["EXSEGTOT"]) for h in heads] == [(1, 2), (2, 2)]
    assert all(h["TSOVISIT"] is True and h["EXP_TYPE"] == "NRC_TSIMAGE" for h in heads)
    assert int(str(heads[0]["INTEND"])) + 1 == heads[1]["INTSTART"] and heads[1]["INTEND"] == heads[1]["NINTS"]
    assert [e.root.split("_")[2] for e in result.exposures] == ["00001-seg001", "00001-seg002"]


def test_coron_and_ami_have_a_psf_reference(tmp_path):
    for name, exp_type in (("coron", "NRC_CORON"), ("ami", "NIS_AMI")):
        heads = [e.header for e in simulate_program(name, tmp_path / name).exposures]
        assert {h["EXP_TYPE"] for h in heads} == {exp_type}
        assert sorted(bool(h["IS_PSF"]) for h in heads) == [False, True]


def test_all_modes_covers_every_exp_type_and_both_tso_values():
    specs = program_specs("all_modes")
    assert {str(s.exp_type) for s, _ in specs} == {str(e) for e in ExpType}
    assert sum(1 for s, _ in specs if s.tsovisit is True) == 3  # MIR_IMAGE, MIR_LRS-SLITLESS, NIS_SOSS


def test_demo_names_do_not_collide_and_programs_are_described():
    roots = [(s.observation, s.visit, s.exposure, s.segment) for s, _ in program_specs("demo")]
    assert len(roots) == len(set(roots))
    assert set(PROGRAMS) >= {"imaging_dither", "tso", "coron", "ami", "wfsc", "darks", "guider",
                             "spectroscopy", "miri_imaging", "all_modes", "demo"}
    with pytest.raises(KeyError, match="unknown program"):
        program_specs("nope")


def test_programs_are_reproducible(tmp_path):
    a = simulate_program("guider", tmp_path / "a", seed=9)
    b = simulate_program("guider", tmp_path / "b", seed=9)
    c = simulate_program("guider", tmp_path / "c", seed=10)
    for ea, eb, ec in zip(a.exposures, b.exposures, c.exposures, strict=True):
        assert ea.root == eb.root == ec.root
        np.testing.assert_array_equal(fits.getdata(ea.path, "SCI"), fits.getdata(eb.path, "SCI"))
        assert not np.array_equal(fits.getdata(ea.path, "SCI"), fits.getdata(ec.path, "SCI"))
    assert [e.header["EXP_TYPE"] for e in a.exposures] == ["FGS_ID-STACK", "FGS_TRACK", "FGS_FINEGUIDE"]
    shapes = [fits.getdata(e.path, "SCI").shape for e in a.exposures]
    assert shapes[0][:2] == (2, 2) and shapes[1][1:] == (2, 32, 32) and shapes[2][1:] == (8, 8, 8)
