"""Issue 5 acceptance: a 4-point dither of a star field, raw ramps → detector1 → image2 → image3, scored
against the injected truth.

The visit: NIRCam SW (NRCA3, SUB400P, FWHM ≈ 2 px), four dithers with half-pixel fractions, each
exposure's pointing keywords wrong by an injected shift and roll (``ExposureSpec.pointing_error``). NGROUPS=2,
so stage 1 cannot see cosmic rays (one difference per pixel): every hit stays in the rate, as the residual
CRs of real data do, and outlier detection must find them.

Frames: tweakreg aligns every exposure to the first one (its header WCS is the frame of the mosaic), so a
star's true position is compared in that frame: truth pixel in exposure 0 → exposure 0's aligned WCS → sky.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from astropy.table import Table
from stdatamodels.jwst import datamodels as dm

from streamcal.associations import build_asn, read_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_extensions, read_header
from streamcal.dq import Pixel
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models import read_image
from streamcal.simulate import Effects, ExposureSpec, simulate_exposure, write_reference_set

pytestmark = pytest.mark.slow  # see pyproject.toml: deselected by the fast inner loop

DITHERS = [(0.0, 0.0), (4.5, 3.5), (-3.5, 5.5), (6.5, -4.5)]
#: Injected pointing errors: (dx px, dy px, roll deg) of each exposure's header WCS.
ERRORS = [(0.0, 0.0, 0.0), (0.83, -0.61, 0.02), (-1.27, 0.44, -0.03), (0.52, 1.12, 0.015)]
#: A residual CR counts as "left after stage 1" when it lifts its pixel this many σ above the truth.
CR_SIGMA = 10.0


def build_visit(root, *, subarray="SUB400P", cr_fraction=0.01):
    """Simulate the visit under ``root`` and run it through the three pipelines; seconds per stage."""
    raws, truths = [], []
    for i, ((dx, dy), err) in enumerate(zip(DITHERS, ERRORS, strict=True)):
        spec = ExposureSpec(exp_type="NRC_IMAGE", subarray=subarray, ngroups=2, nints=1, exposure=i + 1,
                            patttype="INTRAMODULEX", numdthpt=4, patt_num=i + 1, nexposur=4, expcount=i + 1,
                            dither=(dx, dy), pointing_error=err, scene_seed=77,
                            effects=Effects(cr_fraction=cr_fraction), expstart=60400.25 + 0.002 * i)
        exp = simulate_exposure(spec, root / "raw", rng_seed=100 + i)
        raws.append(exp.path)
        truths.append(exp.truth_path)
    refs = root / "refs"
    write_reference_set(refs, only=[("NRCA3", subarray)])
    out = root / "products"
    cals, seconds = [], {"calwebb_detector1": 0.0, "calwebb_image2": 0.0}
    for raw in raws:
        stage1 = calibrate(raw, pipeline_alias="calwebb_detector1", refs_dir=refs, out_dir=out)
        stage2 = calibrate(stage1.product("rate"), pipeline_alias="calwebb_image2", refs_dir=refs, out_dir=out)
        seconds["calwebb_detector1"] += stage1.seconds
        seconds["calwebb_image2"] += stage2.seconds
        cals.append(stage2.product("cal"))
    asn = build_asn("image3", [(c.name, read_header(c)) for c in cals])
    asn_path = write_asn(asn, out / f"{asn.products[0].name}_image3_asn.json")
    result = calibrate(asn_path, pipeline_alias="calwebb_image3", refs_dir=refs, out_dir=out)
    seconds["calwebb_image3"] = result.seconds
    return {"raws": raws, "truths": truths, "cals": cals, "asn": asn_path, "result": result, "out": out,
            "seconds": seconds}


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return build_visit(tmp_path_factory.mktemp("imaging_visit"))


def _sources(truth_path):
    return read_extensions(truth_path, ["SOURCES"])["SOURCES"]


def _crfs(visit):
    crfs = sorted(p for p in visit["result"].products if p.name.endswith("_crf.fits"))
    assert len(crfs) == 4
    return crfs


def _aligned_wcs(path):
    image = read_image(path)
    return image, imaging_wcs(image.sci_header, image.shape, primary=image.primary)


def alignment_errors(visit):
    """(after, before): per non-reference exposure, the largest distance (px) between where a star is and
    where the reference exposure's aligned WCS says it is, through the aligned and the header WCS."""
    crfs = _crfs(visit)
    _, ref_wcs = _aligned_wcs(crfs[0])
    ref = _sources(visit["truths"][0])
    ref_ra, ref_dec = ref_wcs.pixel_to_world_values(ref["x"], ref["y"])
    after, before = [], []
    for index, (crf, truth) in enumerate(zip(crfs, visit["truths"], strict=True)):
        if index == 0:
            continue
        src = _sources(truth)
        common, i_ref, i_src = np.intersect1d(ref["ra"], src["ra"], return_indices=True)
        assert common.size > 20
        cal = read_image(visit["cals"][index])
        for wcs, out in ((_aligned_wcs(crf)[1], after),
                         (imaging_wcs(cal.sci_header, cal.shape, primary=cal.primary), before)):
            x, y = wcs.world_to_pixel_values(ref_ra[i_ref], ref_dec[i_ref])
            out.append(float(np.max(np.hypot(x - src["x"][i_src], y - src["y"][i_src]))))
    return after, before


def test_tweakreg_recovers_the_injected_pointing_errors(visit):
    """Every star of every exposure lands, through its aligned WCS, within 0.05 px of where the reference
    exposure's aligned WCS puts it (max over stars, so rotation errors at the corners count); through the
    header WCS it is more than a pixel off (so the test can fail)."""
    after, before = alignment_errors(visit)
    assert max(after) < 0.05, after
    assert max(before) > 1.0, before


def _matched_catalog(visit):
    result = visit["result"]
    [cat_path] = [p for p in result.products if p.name.endswith("_cat.ecsv")]
    catalog = Table.read(cat_path, format="ascii.ecsv")
    [i2d_path] = [p for p in result.products if p.name.endswith("_i2d.fits")]
    with dm.open(i2d_path) as model:
        mosaic_shape = model.data.shape
    i2d = read_header(i2d_path, "SCI")
    mosaic_wcs = imaging_wcs(i2d, mosaic_shape)
    _, ref_wcs = _aligned_wcs(_crfs(visit)[0])
    truth = _sources(visit["truths"][0])
    ra, dec = ref_wcs.pixel_to_world_values(truth["x"], truth["y"])
    tx, ty = mosaic_wcs.world_to_pixel_values(ra, dec)
    cx, cy = np.asarray(catalog["xcentroid"], float), np.asarray(catalog["ycentroid"], float)
    d = np.hypot(cx[:, None] - tx[None, :], cy[:, None] - ty[None, :])
    nearest = np.argmin(d, axis=1)
    ok = d[np.arange(len(cx)), nearest] < 1.0
    return catalog[ok], truth[nearest[ok]], tx[nearest[ok]], ty[nearest[ok]]


def catalog_scores(visit):
    """(n, median position error px, median flux/truth) over catalog stars with S/N > 50."""
    catalog, truth, tx, ty = _matched_catalog(visit)
    cal = read_image(visit["cals"][0])
    to_jy = float(cal.sci_header["PHOTMJSR"]) * float(cal.sci_header["PIXAR_SR"]) * 1e6
    flux = np.asarray(catalog["aper_total_flux"], float)
    bright = flux / np.asarray(catalog["aper_total_flux_err"], float) > 50
    dpos = np.hypot(np.asarray(catalog["xcentroid"], float) - tx, np.asarray(catalog["ycentroid"], float) - ty)
    ratio = flux / (truth["flux"] * to_jy)
    return int(bright.sum()), float(np.median(dpos[bright])), float(np.median(ratio[bright]))


def test_catalog_positions_and_fluxes_match_the_truth(visit):
    """Stars with S/N > 50: median position error < 0.05 px, median |flux/truth − 1| < 1 %."""
    n, dpos, ratio = catalog_scores(visit)
    assert n >= 15
    assert dpos < 0.05, dpos
    assert abs(ratio - 1.0) < 0.01, ratio


def outlier_scores(visit):
    """(residual CRs, of them flagged OUTLIER, star cores with S/N > 20, of them flagged)."""
    crfs = _crfs(visit)
    hits = flagged = cores = cores_flagged = 0
    for cal_path, crf_path, truth_path in zip(visit["cals"], crfs, visit["truths"], strict=True):
        truth = read_extensions(truth_path, ["RATE", "CR", "SOURCES"])
        rate = read_image(cal_path.with_name(cal_path.name.replace("_cal", "_rate")))
        crf = read_image(crf_path)
        excess = (rate.sci - truth["RATE"]) / rate.err
        cr = truth["CR"]
        left = np.zeros(rate.shape, bool)
        left[cr["y"], cr["x"]] = True
        left &= np.nan_to_num(excess) > CR_SIGMA
        is_outlier = (crf.dq & Pixel.OUTLIER) != 0
        hits += int(left.sum())
        flagged += int((left & is_outlier).sum())
        src = truth["SOURCES"]
        xi, yi = np.round(src["x"]).astype(int), np.round(src["y"]).astype(int)
        ny, nx = rate.shape
        inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
        xi, yi = xi[inside], yi[inside]
        core_snr = rate.sci[yi, xi] / rate.err[yi, xi]
        real = (core_snr > 20) & ~left[yi, xi]
        cores += int(real.sum())
        cores_flagged += int(is_outlier[yi[real], xi[real]].sum())
    return hits, flagged, cores, cores_flagged


def test_outlier_detection_flags_residual_cosmic_rays_and_no_star_core(visit):
    hits, flagged, cores, cores_flagged = outlier_scores(visit)
    assert hits > 100
    assert flagged / hits >= 0.95, (flagged, hits)
    assert cores > 20 and cores_flagged == 0, (cores_flagged, cores)


def test_products_open_in_stdatamodels_with_units_and_wcs(visit):
    with dm.open(visit["cals"][0]) as model:
        assert isinstance(model, dm.ImageModel)
        assert model.meta.bunit_data == "MJy/sr" and model.meta.cal_step.photom == "COMPLETE"
        assert model.meta.wcsinfo.ctype1 == "RA---TAN" and model.meta.wcsinfo.crval1 is not None
        assert model.var_flat.shape == model.data.shape
    [i2d] = [p for p in visit["result"].products if p.name.endswith("_i2d.fits")]
    with dm.open(i2d) as model:
        assert isinstance(model, dm.ImageModel) and model.meta.bunit_data == "MJy/sr"
        assert model.meta.wcsinfo.ctype2 == "DEC--TAN" and model.meta.wcsinfo.cdelt1 > 0
        assert model.con.ndim == 3 and model.wht.shape == model.data.shape
        assert model.meta.cal_step.resample == "COMPLETE" and model.meta.cal_step.outlier_detection == "COMPLETE"
    for crf in _crfs(visit):
        with dm.open(crf) as model:
            assert isinstance(model, dm.ImageModel) and model.meta.cal_step.tweakreg == "COMPLETE"


def test_the_asn_is_in_jwst_format(visit):
    doc = json.loads(visit["asn"].read_text())
    assert {"asn_type", "asn_rule", "asn_id", "asn_pool", "program", "target", "version_id", "code_version",
            "constraints", "products"} <= set(doc)
    assert re.fullmatch(r"\d{8}t\d{6}", doc["version_id"]) and re.fullmatch(r"\d{5}", doc["program"])
    for member in doc["products"][0]["members"]:
        assert set(member) >= {"expname", "exptype"} and "/" not in member["expname"]  # bare names
    asn = read_asn(visit["asn"])
    assert asn.asn_type == "image3" and asn.asn_rule == "Asn_Lv3Image"
    product = asn.products[0]
    assert product.name.startswith("jw01234-o001_t001_nircam_") and len(product.by_type("science")) == 4
    name = visit["result"].exposure_id
    assert name == product.name
    assert {p.name for p in visit["result"].products} >= {f"{name}_i2d.fits", f"{name}_cat.ecsv",
                                                          f"{name}_segm.fits", f"{name}_i2d.png"}
