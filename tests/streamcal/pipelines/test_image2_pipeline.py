"""calwebb_image2 end to end: simulated programs → detector1 → image2, scored against the injected truth."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip
from stdatamodels.jwst import datamodels as dm

import streamcal.pipelines.image2 as image2_pipeline
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_product
from streamcal.dq import Pixel
from streamcal.errors import AssociationError, CorruptFileError, MissingReferenceError, NotFitsError
from streamcal.routing import RoutingConfig, route
from streamcal.simulate import DETECTORS, simulate_program, write_reference_set
from streamcal.steps.image import RESAMPLE_EXP_TYPES

ALIAS = "calwebb_image2"
BAD = int(Pixel.DO_NOT_USE | Pixel.REFERENCE_PIXEL)


@pytest.fixture(scope="module")
def config():
    return RoutingConfig.load()


def _program(root, name, config):
    """Simulate a program, write its references, run detector1 on every exposure; (exposures, rate paths, refs)."""
    program = simulate_program(name, root / "raw")
    refs = root / "refs"
    layouts = {(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"])) for e in program.exposures}
    write_reference_set(refs, only=sorted(layouts))
    results = [calibrate(e.path, pipeline_alias="calwebb_detector1", refs_dir=refs, out_dir=root / "stage1",
                         config=config)
               for e in program.exposures]
    return program.exposures, results, refs


@pytest.fixture(scope="module")
def dither(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("image2_dither")
    exposures, stage1, refs = _program(root, "imaging_dither", config)
    rates = [r.product("rate") for r in stage1]
    result = calibrate(rates[0], pipeline_alias=ALIAS, refs_dir=refs, out_dir=root / "stage2", config=config)
    return {"root": root, "exposures": exposures, "rates": rates, "refs": refs, "result": result}


def test_every_public_name_is_importable():
    for name in image2_pipeline.__all__:
        assert getattr(image2_pipeline, name) is not None


def test_cal_is_truth_in_mjy_per_sr_within_its_errors(dither):
    result, refs = dither["result"], dither["refs"]
    cal = read_product(result.product("cal"))
    truth = read_extensions(dither["exposures"][0].truth_path, ["RATE"])["RATE"]  # DN/s, flat response included
    flat = read_extensions(refs / cal.primary["R_FLAT"], ["SCI"])["SCI"]
    c = cal.sci_header["PHOTMJSR"]
    good = (cal["DQ"] & BAD) == 0
    pull = ((cal["SCI"] - truth / flat * c) / cal["ERR"])[good]
    assert good.sum() > 0.85 * 160 * 160
    assert abs(np.median(pull)) < 0.05  # unbiased
    assert 0.9 < np.std(pull) < 1.1  # ERR (Poisson + read noise + flat) is the real scatter
    assert np.mean(np.abs(pull) < 5) > 0.999
    np.testing.assert_array_equal(np.isnan(cal["SCI"]), (cal["DQ"] & Pixel.DO_NOT_USE) != 0)  # NaN ⇔ DNU


def test_cal_opens_as_an_image_model_with_units_wcs_and_photometry(dither):
    path = dither["result"].product("cal")
    with dm.open(path) as model:
        assert isinstance(model, dm.ImageModel) and model.data.shape == (160, 160)
        assert model.meta.bunit_data == "MJy/sr" and model.meta.bunit_err == "MJy/sr"
        w = model.meta.wcsinfo
        assert w.crval1 == pytest.approx(w.ra_ref) and w.crval2 == pytest.approx(w.dec_ref)
        assert w.ctype1 == "RA---TAN" and w.crpix1 is not None and w.pc1_1 is not None
        assert w.s_region.startswith("POLYGON ICRS")
        assert model.meta.photometry.conversion_megajanskys > 0
        assert model.meta.photometry.conversion_microjanskys == pytest.approx(
            model.meta.photometry.conversion_megajanskys * 23.5044305391)
        pixar_sr = DETECTORS["NRCA3"].pixel_scale ** 2 * (np.pi / 648000) ** 2
        assert model.meta.photometry.pixelarea_steradians == pytest.approx(pixar_sr, rel=1e-6, abs=0)
        assert model.var_flat.shape == model.area.shape == (160, 160)
        assert model.meta.cal_step.flat_field == "COMPLETE" and model.meta.cal_step.photom == "COMPLETE"
        assert model.meta.cal_step.ramp_fit == "COMPLETE"  # stage-1 provenance is kept


def test_provenance_and_step_records(dither):
    result = dither["result"]
    primary = read_product(result.product("cal")).primary
    assert primary["S_WCS"] == primary["S_FLAT"] == primary["S_PHOTOM"] == "COMPLETE"
    assert primary["S_BKDSUB"] == "SKIPPED"
    assert primary["R_FLAT"] == "jwst_nircam_flat_nrca3_sub160p.fits"
    assert str(primary["R_PHOTOM"]).startswith("jwst_nircam_photom_")
    assert str(primary["R_AREA"]).startswith("jwst_nircam_area")
    assert primary["R_DISTOR"] == "N/A"
    assert primary["PIPELINE"] == ALIAS and primary["PARSFILE"] == "pars-image2pipeline.yaml"
    assert str(primary["CAL_VER"]).startswith("streamcal")
    steps = {s.name: s for s in result.steps}
    assert list(steps) == ["bkg_subtract", "assign_wcs", "flat_field", "photom", "resample"]
    assert steps["bkg_subtract"].note == "no background members"
    assert "distortion" in steps["assign_wcs"].note
    assert result.exposure_id == dither["exposures"][0].root


def test_quick_look_i2d_is_written_and_opens(dither):
    result = dither["result"]
    path = result.product("i2d")
    with dm.open(path) as model:
        assert isinstance(model, dm.ImageModel) and model.meta.bunit_data == "MJy/sr"
        assert model.con.ndim == 3 and model.meta.cal_step.resample == "COMPLETE"
        assert model.meta.photometry.conversion_megajanskys > 0
        sci = model.data
    cal = read_product(result.product("cal"))
    assert np.isfinite(sci).mean() > 0.8
    # one input on its own grid: the mosaic holds the same total surface brightness
    good = np.isfinite(cal["SCI"])
    assert np.nansum(sci) == pytest.approx(np.sum(cal["SCI"][good]), rel=0.02)
    assert {s.name: s.status for s in result.steps}["resample"] == "COMPLETE"


def _write_asn(path, members, asn_type="image2", name="jw01234001001_02101_00001_nrca3"):
    doc = {"asn_type": asn_type, "asn_id": "a3001", "products": [{"name": name, "members": members}]}
    path.write_text(json.dumps(doc))
    return path


def test_association_with_background_members_subtracts_their_clipped_mean(dither, config):
    root, rates = dither["root"], dither["rates"]
    out = root / "asn_bkg"
    members = [{"expname": str(rates[0]), "exptype": "science"}] + [
        {"expname": str(r), "exptype": "background"} for r in rates[1:]]
    asn = _write_asn(root / "bkg_image2_asn.json", members)
    result = calibrate(asn, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=out, config=config)
    cal = read_product(result.product("cal"))
    assert cal.primary["S_BKDSUB"] == "COMPLETE"
    stack = np.stack([read_product(r)["SCI"] for r in rates[1:]])
    background = sigma_clip(np.ma.masked_invalid(stack), sigma=3.0, maxiters=None, axis=0).mean(axis=0).filled(np.nan)
    science = read_product(rates[0])
    flat = read_extensions(dither["refs"] / cal.primary["R_FLAT"], ["SCI"])["SCI"]
    expected = (science["SCI"] - background) / flat * cal.sci_header["PHOTMJSR"]
    good = ((cal["DQ"] & BAD) == 0) & np.isfinite(expected)
    assert good.sum() > 0.8 * 160 * 160
    np.testing.assert_allclose(cal["SCI"][good], expected[good], rtol=1e-5, atol=1e-4)  # float32 sums
    np.testing.assert_array_equal(cal["DQ"] & science["DQ"], science["DQ"])  # flags only added
    assert {s.name: s.counts for s in result.steps}["bkg_subtract"]["n_backgrounds"] == 3
    # save_bsub is false: no _bsub product
    assert [p.name.rsplit("_", 1)[1] for p in result.products] == ["cal.fits", "i2d.fits", "i2d.png"]


def test_save_bsub_writes_the_background_subtracted_rate(dither, config):
    root, rates = dither["root"], dither["rates"]
    files = tuple(dataclasses.replace(f, parameters={**f.parameters, "save_bsub": True}) for f in config.library.files)
    saving = RoutingConfig(config.table, dataclasses.replace(config.library, files=files))
    members = [{"expname": str(rates[0]), "exptype": "science"}, {"expname": str(rates[1]), "exptype": "background"}]
    asn = _write_asn(root / "bsub_image2_asn.json", members, name="jw01234001001_02101_00001_nrca3_bkgtest")
    result = calibrate(asn, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=root / "asn_bsub", config=saving)
    assert result.exposure_id == "jw01234001001_02101_00001_nrca3_bkgtest"
    bsub = read_product(result.product("bsub"))
    science, background = read_product(rates[0]), read_product(rates[1])
    np.testing.assert_allclose(bsub["SCI"], science["SCI"] - background["SCI"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(bsub["ERR"], science["ERR"])
    assert bsub.primary["S_BKDSUB"] == "COMPLETE" and "S_FLAT" not in bsub.primary
    assert bsub.sci_header["BUNIT"] == "DN/s"


def test_association_errors(dither, config, tmp_path):
    rate = str(dither["rates"][0])
    no_science = _write_asn(tmp_path / "a_asn.json", [{"expname": rate, "exptype": "background"}])
    with pytest.raises(AssociationError, match="no science member"):
        calibrate(no_science, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=tmp_path, config=config)
    level3 = _write_asn(tmp_path / "b_asn.json", [{"expname": rate, "exptype": "science"}], asn_type="image3")
    with pytest.raises(AssociationError, match="level-2 imaging"):
        calibrate(level3, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=tmp_path, config=config)


def test_missing_flat_reference_is_a_missing_reference_error(dither, config, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    manifest = json.loads((dither["refs"] / "manifest.json").read_text())
    manifest["entries"] = [e for e in manifest["entries"] if e["reftype"] != "flat"]
    for entry in manifest["entries"]:
        (refs / entry["filename"]).symlink_to(dither["refs"] / entry["filename"])
    (refs / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MissingReferenceError, match="flat"):
        calibrate(dither["rates"][0], pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out", config=config)
    assert not list((tmp_path / "out").glob("*_cal.fits"))


def test_a_broken_input_file_raises_the_reader_error(dither, config, tmp_path):
    broken = tmp_path / "jw01234001001_02101_00001_nrca3_rate.fits"
    shutil.copy(dither["rates"][0], broken)
    with fits.open(broken) as hdul:
        sci_data_at = hdul["SCI"].fileinfo()["datLoc"]
    with open(broken, "r+b") as fh:
        fh.truncate(sci_data_at + 1000)  # in the middle of SCI
    with pytest.raises(CorruptFileError, match="truncated"):
        calibrate(broken, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=tmp_path / "out", config=config)
    text = tmp_path / "jw01234001001_02101_00002_nrca3_rate.fits"
    text.write_text("not a FITS file\n" * 300)
    with pytest.raises(NotFitsError):
        calibrate(text, pipeline_alias=ALIAS, refs_dir=dither["refs"], out_dir=tmp_path / "out", config=config)


def test_wfsc_exposures_get_no_quick_look_resample(tmp_path, config):
    _, stage1, refs = _program(tmp_path, "wfsc", config)
    result = calibrate(stage1[0].product("rate"), pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out",
                       config=config)
    assert [p.name.rsplit("_", 1)[1] for p in result.products] == ["cal.fits"]
    steps = {s.name: s for s in result.steps}
    assert steps["resample"].status == "SKIPPED" and "pars-image2pipeline-wfsc" in steps["resample"].note
    assert steps["photom"].status == "COMPLETE"
    assert read_product(result.product("cal")).primary["PARSFILE"] == "pars-image2pipeline-wfsc.yaml"


def test_tso_rateints_become_calints(tmp_path, config):
    exposures, stage1, refs = _program(tmp_path, "tso", config)
    result = calibrate(stage1[0].product("rateints"), pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out",
                        config=config)
    assert [p.name for p in result.products] == [f"{exposures[0].root}_calints.fits"]
    with dm.open(result.product("calints")) as model:
        assert isinstance(model, dm.CubeModel) and model.data.ndim == 3
        assert model.var_flat.shape == model.data.shape and model.area.shape == model.data.shape[1:]
        assert model.meta.bunit_data == "MJy/sr"
        c = model.meta.photometry.conversion_megajanskys
        sci = model.data
    rateints = read_product(stage1[0].product("rateints"))
    flat = read_extensions(refs / read_product(result.product("calints")).primary["R_FLAT"], ["SCI"])["SCI"]
    good = np.isfinite(sci)
    np.testing.assert_allclose(sci[good], (rateints["SCI"] / flat * c)[good], rtol=1e-5, atol=1e-7)
    steps = {s.name: s.status for s in result.steps}
    assert steps["bkg_subtract"] == steps["resample"] == "SKIPPED"
    assert read_product(result.product("calints")).primary["PARSFILE"] == "pars-image2pipeline-tso.yaml"


@pytest.mark.slow
def test_every_exposure_type_routed_to_image2_calibrates(tmp_path, config):
    """Every EXP_TYPE (TSO and not) the routing table sends to calwebb_image2 runs: _cal or _calints in MJy/sr,
    an _i2d exactly for 2-D MIR/NRC/NIS/FGS_IMAGE."""
    program = simulate_program("all_modes", tmp_path / "raw")
    refs = tmp_path / "refs"
    write_reference_set(refs, only=sorted({(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"]))
                                           for e in program.exposures}))
    seen = set()
    for exposure in program.exposures:
        routed = route(exposure.header, config.table)
        if routed.stage2 != ALIAS:
            continue
        stage1 = calibrate(exposure.path, pipeline_alias=routed.stage1, refs_dir=refs, out_dir=tmp_path / "out",
                           config=config)
        result = calibrate(stage1.product(routed.stage2_input or "rate"), pipeline_alias=ALIAS, refs_dir=refs,
                            out_dir=tmp_path / "out", config=config)
        suffix = "calints" if routed.stage2_input == "rateints" else "cal"
        product = read_product(result.product(suffix))
        assert product.sci_header["BUNIT"] == "MJy/sr" and product.primary["S_PHOTOM"] == "COMPLETE"
        wants_i2d = suffix == "cal" and str(routed.exp_type) in RESAMPLE_EXP_TYPES
        assert any(p.name.endswith("_i2d.fits") for p in result.products) == wants_i2d, routed.exp_type
        seen.add((str(routed.exp_type), routed.is_tso))
    assert len(seen) >= 20 and ("NRC_TSIMAGE", True) in seen and ("MIR_IMAGE", False) in seen
