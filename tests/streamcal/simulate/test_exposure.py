"""Every EXP_TYPE simulates at small size and its files round-trip (astropy, our data layer, stdatamodels)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels as dm

from streamcal.datamodels import ExposureName, open_raw, read_headers
from streamcal.routing import ExpType
from streamcal.simulate import MODES, ExposureSpec, simulate_exposure
from streamcal.simulate.spec import plan_exposure

_CASES = [(e, None) for e in ExpType] + [(m.exp_type, True) for m in MODES.values() if m.tso == "optional"]
_PRIMARY_KEYS = (
    "TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "TSOVISIT", "READPATT", "NGROUPS", "NINTS", "NFRAMES",
    "GROUPGAP", "FRMDIVSR", "TFRAME", "TGROUP", "EFFINTTM", "SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1",
    "SUBSIZE2", "FASTAXIS", "SLOWAXIS", "NOUTPUTS", "PROGRAM", "OBSERVTN", "VISIT", "VISITGRP", "SEQ_ID",
    "ACT_ID", "EXPOSURE", "OBS_ID", "VISIT_ID", "VISITYPE", "PATTTYPE", "NUMDTHPT", "PATT_NUM", "EXSEGNUM",
    "EXSEGTOT", "INTSTART", "INTEND", "IS_PSF", "BKGDTARG", "PNTGTYPE", "TARGETID", "TARGNAME", "TARG_RA",
    "TARG_DEC", "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPMID", "EXPEND", "NEXPOSUR", "EXPCOUNT", "DATAMODL",
    "FILENAME",
)
_SCI_KEYS = ("RA_REF", "DEC_REF", "ROLL_REF", "V3I_YANG", "VPARITY", "V2_REF", "V3_REF", "XREF_SCI", "YREF_SCI")


@pytest.mark.parametrize(("exp_type", "tsovisit"), _CASES, ids=[f"{e}{'-tso' if t else ''}" for e, t in _CASES])
def test_every_mode_simulates_and_round_trips(tmp_path, exp_type, tsovisit):
    spec = ExposureSpec(exp_type=exp_type, tsovisit=tsovisit)
    plan = plan_exposure(spec)
    result = simulate_exposure(spec, tmp_path, rng_seed=11)
    shape = (plan.timing.nints, plan.timing.ngroups, plan.subarray.ny, plan.subarray.nx)
    assert result.path.name == f"{result.root}_uncal.fits" and result.truth_path.exists()
    assert ExposureName.from_header(result.header).root == result.root
    with fits.open(result.path) as hdul:
        primary, sci = hdul[0].header, hdul["SCI"].header
        assert hdul["SCI"].data.shape == shape and hdul["SCI"].data.dtype == np.uint16
        for key in _PRIMARY_KEYS:
            assert key in primary, key
        for key in _SCI_KEYS:
            assert key in sci, key
        assert primary["EXP_TYPE"] == str(exp_type) and primary["TELESCOP"] == "JWST"
        assert primary["TSOVISIT"] is (plan.tsovisit)
        assert (primary["SUBSIZE2"], primary["SUBSIZE1"]) == shape[2:]
        assert primary["NGROUPS"] == shape[1] and primary["INTEND"] - primary["INTSTART"] + 1 == shape[0]
        assert len(primary["PROGRAM"]) == 5 and sci["BUNIT"] == "DN"
    headers = read_headers(result.path)
    assert headers["DETECTOR"] == MODES[ExpType(exp_type)].detector
    with open_raw(result.path) as raw:
        assert raw.shape == shape
    with fits.open(result.truth_path) as truth:
        assert truth["RATE"].data.shape == shape[2:] and truth["RATE"].data.dtype == np.dtype(">f4")
        assert truth["CR_COUNT"].data.shape == (shape[0], *shape[2:])
        assert truth["CR_FIRST_GROUP"].data.dtype == np.dtype(">i2")
        assert set(truth["CR"].columns.names) == {"int", "y", "x", "frame", "group", "amplitude_dn"}
    with dm.open(result.path, strict_validation=True) as model:  # valid against the JWST schemas
        model.validate()
        assert model.meta.exposure.type == str(exp_type)


def test_imaging_truth_lists_the_sources_at_their_pixels(tmp_path):
    spec = ExposureSpec(exp_type="NRC_IMAGE")
    result = simulate_exposure(spec, tmp_path, rng_seed=3)
    with fits.open(result.truth_path) as truth:
        rate, sources = truth["RATE"].data, truth["SOURCES"].data
    brightest = sources[np.argmax(sources["flux"])]
    y, x = round(float(brightest["y"])), round(float(brightest["x"]))
    y0, x0 = max(0, y - 3), max(0, x - 3)
    window = rate[y0:y + 4, x0:x + 4]
    peak_y, peak_x = np.unravel_index(np.argmax(window), window.shape)
    # the brightest pixel touches the listed position (a star on a pixel corner lights four pixels alike)
    assert abs(y0 + peak_y - float(brightest["y"])) <= 0.5 and abs(x0 + peak_x - float(brightest["x"])) <= 0.5
    assert np.all((sources["x"] > -0.5) & (sources["x"] < 63.5))


def test_dithers_move_the_same_sky_by_minus_the_offset(tmp_path):
    first = ExposureSpec(exp_type="NRC_IMAGE", scene_seed=5, numdthpt=2, patttype="INTRAMODULEX")
    a = simulate_exposure(first, tmp_path, rng_seed=1)
    b = simulate_exposure(replace(first, patt_num=2, exposure=2, dither=(4.0, -3.0)), tmp_path, rng_seed=2)
    with fits.open(a.truth_path) as ta, fits.open(b.truth_path) as tb:
        sa, sb = ta["SOURCES"].data, tb["SOURCES"].data
    common_ra = np.intersect1d(sa["ra"], sb["ra"])
    assert common_ra.size >= 3
    for ra in common_ra:
        ra_a, ra_b = sa[sa["ra"] == ra][0], sb[sb["ra"] == ra][0]
        assert ra_a["flux"] == ra_b["flux"]
        assert ra_b["x"] - ra_a["x"] == pytest.approx(-4.0, abs=1e-3)
        assert ra_b["y"] - ra_a["y"] == pytest.approx(3.0, abs=1e-3)


def test_tso_segments_split_the_integrations(tmp_path):
    results = [simulate_exposure(ExposureSpec(exp_type="NRC_TSIMAGE", nints=5, segment=s, nsegments=2),
                                 tmp_path, rng_seed=s) for s in (1, 2)]
    assert [r.root.split("_")[2] for r in results] == ["00001-seg001", "00001-seg002"]
    heads = [r.header for r in results]
    assert [(h["EXSEGNUM"], h["EXSEGTOT"], h["INTSTART"], h["INTEND"], h["NINTS"]) for h in heads] == [
        (1, 2, 1, 3, 5), (2, 2, 4, 5, 5)]
    with fits.open(results[1].truth_path) as truth:
        assert list(truth["LIGHTCURVE"].data["int"]) == [4, 5]
    with open_raw(results[1].path) as raw:
        assert raw.nints == 2


def test_same_seed_same_files_other_seed_other_data(tmp_path):
    spec = ExposureSpec(exp_type="NIS_SOSS")
    paths = [simulate_exposure(spec, tmp_path / d, rng_seed=s).path for d, s in (("a", 4), ("b", 4), ("c", 5))]
    data = [fits.getdata(p, "SCI") for p in paths]
    np.testing.assert_array_equal(data[0], data[1])
    assert not np.array_equal(data[0], data[2])


def test_a_mode_runs_on_another_detector_of_its_instrument(tmp_path):
    """``ExposureSpec.detector``: NIRCam's imaging on NRCB3 is named, placed and oriented as NRCB3; another
    instrument's detector, or an unknown one, is refused."""
    spec = ExposureSpec(exp_type="NRC_IMAGE", detector="NRCB3", subarray="SUB160")
    plan = plan_exposure(spec)
    assert plan.detector.name == "NRCB3" and plan.name.filename("uncal").endswith("_nrcb3_uncal.fits")
    assert (plan.subarray.substrt1, plan.subarray.substrt2) == (1889, 1889)  # NRCB3_SUB160 in the SIAF
    head = read_headers(simulate_exposure(spec, tmp_path, rng_seed=1).path)
    assert (head["DETECTOR"], head["MODULE"], head["FASTAXIS"], head["SLOWAXIS"]) == ("NRCB3", "B", 1, -2)
    with pytest.raises(ValueError, match="NIRCAM mode; NIS is a NIRISS detector"):
        plan_exposure(replace(spec, detector="NIS"))
    with pytest.raises(KeyError, match="NRCZ9"):
        plan_exposure(replace(spec, detector="NRCZ9"))
