"""calwebb_image3 on the demo's imaging dither (SUB160P): the paths the acceptance visit does not take.

A broken pointing stops at the mosaic-size cap with a clear error and writes nothing; a missing member is
named; a one-exposure association still gives a mosaic and a catalog; pars-file parameters reach the steps.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from stdatamodels.jwst import datamodels as dm

from streamcal.associations import build_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_header
from streamcal.errors import AssociationError, ConfigError, MosaicTooLargeError
from streamcal.pipelines import build_plan, pipeline
from streamcal.routing import ParsStep, RoutingConfig, StageSpec
from streamcal.simulate import simulate_program, write_reference_set
from streamcal.steps.combine import SkyMatchStep
from tests.streamcal.pipelines.resample_times import jwst_exposure_times, model_times

ALIAS = "calwebb_image3"


@pytest.fixture(scope="module")
def config():
    return RoutingConfig.load()


@pytest.fixture(scope="module")
def cals(tmp_path_factory, config):
    """The four dithers' _cal files (and the refs folder)."""
    root = tmp_path_factory.mktemp("image3")
    program = simulate_program("imaging_dither", root / "raw")
    refs = root / "refs"
    write_reference_set(refs, only=[("NRCA3", "SUB160P")])
    out = root / "stage2"
    paths = []
    for exposure in program.exposures:
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs, out_dir=out,
                            config=config).product("rate")
        paths.append(calibrate(rate, pipeline_alias="calwebb_image2", refs_dir=refs, out_dir=out,
                               config=config).product("cal"))
    return paths, refs


def _asn(folder, cals):
    folder.mkdir(parents=True, exist_ok=True)
    for cal in cals:
        if cal.parent != folder:
            shutil.copy(cal, folder / cal.name)
    asn = build_asn("image3", [(c.name, read_header(c)) for c in cals])
    return write_asn(asn, folder / f"{asn.products[0].name}_image3_asn.json"), asn.products[0].name


def test_a_broken_pointing_stops_at_the_mosaic_cap_with_a_clear_error(cals, tmp_path, config):
    paths, refs = cals
    asn_path, name = _asn(tmp_path, paths)
    with fits.open(tmp_path / paths[2].name, mode="update") as hdul:  # RA off by 20 degrees
        for key in ("CRVAL1", "RA_REF"):
            hdul["SCI"].header[key] = hdul["SCI"].header[key] + 20.0
    with pytest.raises(MosaicTooLargeError) as info:
        calibrate(asn_path, pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out", config=config)
    message = str(info.value)
    assert "pointing" in message.lower() and "GiB" in message
    assert info.value.reason == "invalid_input" and not info.value.retriable
    assert not list((tmp_path / "out").glob(f"{name}_*"))  # nothing half-written


def test_a_missing_member_is_named(cals, tmp_path, config):
    paths, refs = cals
    asn_path, _ = _asn(tmp_path, paths)
    (tmp_path / paths[1].name).unlink()
    with pytest.raises(AssociationError, match=paths[1].name):
        calibrate(asn_path, pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out", config=config)


def test_malformed_asn_json_is_an_association_error(cals, tmp_path, config):
    _, refs = cals
    bad = tmp_path / "jw01234-o001_20240101t000000_image3_00001_asn.json"
    bad.write_text(json.dumps({"asn_type": "image3", "asn_id": "o001"})[:-3])
    with pytest.raises(AssociationError, match="malformed JSON"):
        calibrate(bad, pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out", config=config)


def test_one_exposure_gets_a_mosaic_and_a_catalog_without_alignment_or_outliers(cals, tmp_path, config):
    paths, refs = cals
    asn_path, name = _asn(tmp_path, paths[:1])
    result = calibrate(asn_path, pipeline_alias=ALIAS, refs_dir=refs, out_dir=tmp_path / "out", config=config)
    names = {p.name for p in result.products}
    assert names == {f"{name}_i2d.fits", f"{name}_i2d.png", f"{name}_cat.ecsv", f"{name}_segm.fits"}
    status = {s.name: (s.status, s.note) for s in result.steps}
    assert status["tweakreg"] == ("SKIPPED", "a single exposure")
    assert status["outlier_detection"][0] == "SKIPPED" and status["source_catalog"][0] == "COMPLETE"
    catalog = Table.read(tmp_path / "out" / f"{name}_cat.ecsv", format="ascii.ecsv")
    assert len(catalog) >= 3 and (catalog["aper_total_flux"] > 0).all()
    header = read_header(tmp_path / "out" / f"{name}_i2d.fits")
    assert header["S_TWKREG"] == "SKIPPED" and header["S_RESAMP"] == "COMPLETE"
    assert header["ASNTABLE"] == asn_path.name


def _plan(pars):
    return build_plan(pipeline(ALIAS), StageSpec.from_pars(ALIAS, pars))


def test_pars_parameters_reach_the_steps_and_unknown_ones_fail(config):
    [pars] = config.library.for_class("jwst.pipeline.Image3Pipeline")
    tuned = dataclasses.replace(pars, steps=(ParsStep(name="outlier_detection", skip=False,
                                                     parameters={"snr": "6.0 3.5", "maskpt": 0.5}),))
    params = _plan(tuned).step("outlier_detection")
    assert params is not None and params.snr == (6.0, 3.5) and params.maskpt == 0.5
    assert _plan(tuned).step("skymatch") == SkyMatchStep()  # not listed: runs with its defaults
    typo = ParsStep(name="outlier_detection", skip=False, parameters={"snr_typo": 5})
    wrong = dataclasses.replace(pars, steps=(typo,))
    with pytest.raises(ConfigError, match="snr_typo"):
        _plan(wrong)


def test_the_mosaic_carries_jwsts_exposure_times_and_units(cals, tmp_path, config):
    """The four dithers start at different times: the i2d's EFFEXPTM, XPOSURE, EXPSTART, EXPEND, DURATION, TELAPSE
    are jwst's (stcal's time bookkeeping over the members, read with stdatamodels); VAR_* carry the square of the SCI
    unit and the segmentation map (integer labels) no unit (issue 14)."""
    paths, refs = cals
    asn_path, name = _asn(tmp_path, paths)
    out = tmp_path / "out"
    calibrate(asn_path, pipeline_alias=ALIAS, refs_dir=refs, out_dir=out, config=config)
    members = []
    for path in paths:
        with dm.open(path) as model:
            members.append(model_times(model))
    assert len({m["start_time"] for m in members}) == len(paths)
    expected = jwst_exposure_times(members)
    with dm.open(out / f"{name}_i2d.fits") as i2d:
        for attr, value in expected.items():
            assert getattr(i2d.meta.exposure, attr) == (None if value is None else pytest.approx(value)), attr
        assert i2d.meta.exposure.start_time == min(m["start_time"] for m in members)
        assert i2d.meta.exposure.effective_exposure_time == pytest.approx(sum(m["exposure_time"] for m in members))
        assert i2d.meta.bunit_data == i2d.meta.bunit_err == "MJy/sr"
    with fits.open(out / f"{name}_i2d.fits") as hdul:
        assert {hdul[v].header["BUNIT"] for v in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")} == {"MJy^2 / sr^2"}
        assert u.Unit(hdul["VAR_RNOISE"].header["BUNIT"]) == (u.MJy / u.sr) ** 2
        assert "BUNIT" not in hdul["CON"].header and "BUNIT" not in hdul["WHT"].header
    with dm.open(out / f"{name}_segm.fits") as segm:
        assert isinstance(segm, dm.SegmentationMapModel) and segm.data.dtype == np.uint32 and segm.data.max() >= 3
    with fits.open(out / f"{name}_segm.fits") as hdul:
        assert "BUNIT" not in hdul["SCI"].header
    crf = next(out.glob("*_crf.fits"))
    with fits.open(crf) as hdul:
        assert hdul["VAR_POISSON"].header["BUNIT"] == "MJy^2 / sr^2" and hdul["SCI"].header["BUNIT"] == "MJy/sr"
