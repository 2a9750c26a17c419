"""wfs_combine (jwst_spec.md §5.13) on a synthetic dither pair, and the calwebb_wfs-image3 pipeline around it.

The pair is cut from one sky image at two origins, and each cut gets the TAN WCS that says so, so the true
offset is known exactly: image-2 pixel ``(x + dx, y + dy)`` sees what image-1 pixel ``(x, y)`` sees.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from stdatamodels.jwst import datamodels as dm

import streamcal.kernels.image.wfs_combine as wfs_module
import streamcal.pipelines.wfs_image3 as pipeline_module
from streamcal.calibrate import calibrate
from streamcal.dq import Pixel
from streamcal.errors import AssociationError, BadDataShapeError, ConfigError
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.kernels.image.wfs_combine import WfsCombineResult, combine_pair, wcs_offset
from streamcal.models import ImageData, write_image
from streamcal.pipelines import build_plan, pipeline
from streamcal.routing import RoutingConfig, StageSpec, load_pars
from streamcal.simulate.wcs import TanWcs
from streamcal.steps.combine import WfsCombineStep

DNU = np.uint32(Pixel.DO_NOT_USE)
SKY_CRPIX = (60.0, 55.0)  # 1-based reference pixel of the sky image
ALIAS = "calwebb_wfs-image3"


def _sky(shape=(110, 120), seed=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sky = 5.0 + rng.normal(0.0, 0.5, shape)
    for x0, y0, flux in ((58.0, 52.0, 4000.0), (40.0, 70.0, 600.0), (75.0, 35.0, 300.0)):
        sky += flux * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 2.0**2))
    return sky


def _primary(detector="NRCA3", **extra):
    return {"TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": detector, "EXP_TYPE": "NRC_IMAGE",
            "PATTTYPE": "WFSC", "TSOVISIT": False, "FILTER": "F212N", "PUPIL": "WLM8", "PROGRAM": "02586",
            "OBSERVTN": "173", "TARGETID": 35, **extra}


def _cut(sky, origin, shape, *, root, noise_seed, wcs_error=(0.0, 0.0), err=1.0):
    """An ImageData of ``sky[oy:oy+ny, ox:ox+nx]`` plus its own noise, with the WCS of that cut."""
    ox, oy = origin
    ny, nx = shape
    rng = np.random.default_rng(noise_seed)
    sci = (sky[oy:oy + ny, ox:ox + nx] + rng.normal(0.0, 0.2, shape)).astype(np.float32)
    tan = TanWcs(crpix1=SKY_CRPIX[0] - ox + wcs_error[0], crpix2=SKY_CRPIX[1] - oy + wcs_error[1],
                 ra_ref=80.5, dec_ref=-69.5, roll_ref=37.0, v3i_yang=-0.56, vparity=-1, scale=0.031)
    return ImageData(root=root, sci=sci, err=np.full(shape, err, np.float32), dq=np.zeros(shape, np.uint32),
                     var_poisson=np.full(shape, err**2 / 2, np.float32),
                     var_rnoise=np.full(shape, err**2 / 2, np.float32), var_flat=np.zeros(shape, np.float32),
                     primary=_primary(), sci_header={**tan.header(), "BUNIT": "MJy/sr"})


def _pair(o1=(20, 18), o2=(14, 21), shape=(60, 70), wcs_error=(0.0, 0.0)):
    sky = _sky()
    one = _cut(sky, o1, shape, root="jw02586173001_03104_00001_nrca3", noise_seed=1, err=1.0)
    two = _cut(sky, o2, shape, root="jw02586173001_03104_00002_nrca3", noise_seed=2, err=3.0,
               wcs_error=wcs_error)
    return one, two


def _wcs(image):
    return imaging_wcs(image.sci_header, image.shape, primary=image.primary)


def _combine(one, two, **kwargs):
    return combine_pair(one, two, wcs1=_wcs(one), wcs2=_wcs(two), **kwargs)


def test_public_names_import():
    for module in (wfs_module, pipeline_module):
        for name in module.__all__:
            assert hasattr(module, name)


def test_wcs_offset_is_the_true_integer_offset():
    one, two = _pair(o1=(20, 18), o2=(14, 21))
    # image-2 pixel x' = x + o1x - o2x
    assert wcs_offset(one.shape, _wcs(one), _wcs(two)) == (6, -3)


def test_combine_means_copies_and_flags_pixel_by_pixel():
    one, two = _pair(o1=(20, 18), o2=(14, 21))
    dx, dy = 6, -3
    dq1, dq2 = one.dq.copy(), two.dq.copy()
    dq1[10, 10] = DNU                                        # only image 1 bad → image 2's value
    dq2[20 + dy, 30 + dx] = DNU | Pixel.SATURATED            # only image 2 bad → image 1's value
    dq1[30, 40] = DNU | Pixel.SATURATED                      # both bad → 0 and the union of flags
    dq2[30 + dy, 40 + dx] = DNU | Pixel.JUMP_DET
    dq1[12, 14] = Pixel.JUMP_DET                             # informational only: still good
    sci1 = one.sci.copy()
    sci1[15, 16] = np.nan                                    # NaN SCI counts as bad
    dq1[40, 67] = DNU                                        # bad, and image 2 does not cover it (x + 6 ≥ 70)
    one, two = one.replace(dq=dq1, sci=sci1), two.replace(dq=dq2)
    for image in (one, two):
        for array in (image.sci, image.err, image.dq):
            array.setflags(write=False)                      # inputs are never written
    before = (dict(one.primary), one.sci.copy(), two.dq.copy())

    out = _combine(one, two)

    assert isinstance(out, WfsCombineResult)
    assert (out.dx, out.dy, out.swapped) == (dx, dy, False)
    ny, nx = one.shape
    shifted_sci = np.full((ny, nx), np.nan, np.float32)
    shifted_sci[3:, : nx - dx] = two.sci[: ny - 3, dx:]      # two[y + dy, x + dx]
    overlap = np.zeros((ny, nx), bool)
    overlap[3:, : nx - dx] = True
    expected = np.where(overlap, 0.5 * (one.sci + shifted_sci), one.sci)
    plain = overlap.copy()
    for y, x in ((10, 10), (20, 30), (30, 40), (15, 16), (40, 67)):
        plain[y, x] = False
    np.testing.assert_allclose(out.image.sci[plain], expected[plain], rtol=1e-6)
    np.testing.assert_array_equal(out.image.err[plain], np.float32(2.0))                # mean of 1 and 3
    uncovered = ~overlap                                     # no image-2 pixel: image 1 copied
    uncovered[40, 67] = False
    np.testing.assert_array_equal(out.image.sci[uncovered], one.sci[uncovered])
    np.testing.assert_array_equal(out.image.err[uncovered], np.float32(1.0))
    assert out.image.sci[10, 10] == two.sci[10 + dy, 10 + dx] and out.image.err[10, 10] == 3.0
    assert out.image.sci[20, 30] == one.sci[20, 30] and out.image.err[20, 30] == 1.0
    assert out.image.sci[15, 16] == two.sci[15 + dy, 16 + dx]
    assert out.image.sci[30, 40] == 0 and out.image.err[30, 40] == 0
    assert out.image.dq[30, 40] == DNU | Pixel.SATURATED | Pixel.JUMP_DET
    assert out.image.sci[12, 14] == pytest.approx(0.5 * (one.sci[12, 14] + two.sci[12 + dy, 14 + dx]))
    assert out.image.sci[40, 67] == 0 and out.image.dq[40, 67] == DNU               # shifted-in = bad
    assert np.count_nonzero(out.image.dq) == 2
    assert out.image.sci.dtype == np.float32 and out.image.dq.dtype == np.uint32
    assert out.image.primary["S_WFSCOM"] == "COMPLETE" and out.image.root == one.root
    assert "S_WFSCOM" not in one.primary and dict(one.primary) == before[0]
    np.testing.assert_array_equal(one.sci, before[1])
    np.testing.assert_array_equal(two.dq, before[2])


def test_pixels_shifted_out_of_image_two_are_bad_when_image_one_is_bad_too():
    one, two = _pair(o1=(20, 18), o2=(14, 21))
    dq1 = np.full(one.shape, DNU, np.uint32)
    out = _combine(one.replace(dq=dq1), two)
    assert out.image.dq[0, 0] == DNU and out.image.sci[0, 0] == 0       # row 0 has no image-2 pixel (dy = -3)
    assert out.image.dq[10, 10] == 0 and out.image.sci[10, 10] == two.sci[7, 16]


def test_flip_dithers_swaps_when_dx_is_negative():
    one, two = _pair(o1=(14, 21), o2=(20, 18))               # dx = -6
    out = _combine(one, two)
    assert out.swapped and (out.dx, out.dy) == (6, -3)
    assert out.image.root == two.root
    assert out.image.sci[10, 10] == pytest.approx(0.5 * (two.sci[10, 10] + one.sci[7, 16]))
    kept = _combine(one, two, flip_dithers=False)
    assert not kept.swapped and (kept.dx, kept.dy) == (-6, 3) and kept.image.root == one.root


def test_no_flip_for_positive_dx():
    one, two = _pair()
    assert not _combine(one, two).swapped


@pytest.mark.parametrize("error", [(1.0, 0.0), (2.0, -1.0), (-1.0, 2.0)])
@pytest.mark.parametrize("kwargs", [{}, {"psf_size": 30, "blur_size": 2, "n_size": 1}])
def test_refine_recovers_an_injected_wcs_error(error, kwargs):
    one, two = _pair(o1=(20, 18), o2=(14, 21), wcs_error=error)
    # a bad pixel inside the PSF box must not throw the correlation off (it is filled from n_size neighbours)
    dq2 = two.dq.copy()
    dq2[52 - 21, 58 - 14] = DNU
    two = two.replace(dq=dq2)
    wrong = _combine(one, two)
    assert (wrong.dx, wrong.dy) == (6 + int(error[0]), -3 + int(error[1]))
    refined = _combine(one, two, do_refine=True, **kwargs)
    assert (refined.dx, refined.dy) == (6, -3)


def test_cubes_are_rejected():
    one, two = _pair()
    cube = one.replace(sci=np.stack([one.sci, one.sci]))
    with pytest.raises(BadDataShapeError, match="2-D"):
        _combine(cube, two)


# --- the pipeline -------------------------------------------------------------------------------------------

PRODUCT = "jw02586-o173_t035_nircam_f212n-wlm8-nrca3"


def _write_pair(folder: Path, one: ImageData, two: ImageData) -> tuple[str, str]:
    names = []
    for image in (one, two):
        path = write_image(folder / f"{image.root}_cal.fits", image)
        names.append(path.name)
    return names[0], names[1]


def _write_asn(folder: Path, products) -> Path:
    doc = {"asn_type": "wfs-image3", "asn_rule": "Asn_Lv3WFSCMB", "asn_id": "o173", "program": "02586",
           "products": [{"name": name, "members": [{"expname": m, "exptype": "science"} for m in members]}
                        for name, members in products]}
    path = folder / "jw02586-o173_20240101t000000_wfs-image3_00001_asn.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def config():
    return RoutingConfig.load()


def test_pipeline_writes_a_wfscmb_imagemodel_and_a_quicklook(tmp_path, config):
    one, two = _pair(o1=(14, 21), o2=(20, 18))               # swapped: image 2 becomes the reference
    members = _write_pair(tmp_path, one, two)
    asn = _write_asn(tmp_path, [(PRODUCT, members)])
    result = calibrate(asn, pipeline_alias=ALIAS, refs_dir=tmp_path / "refs", out_dir=tmp_path / "out", config=config)

    product = tmp_path / "out" / f"{PRODUCT}_wfscmb.fits"
    assert result.products == (product, product.with_suffix(".png")) and result.product("wfscmb") == product
    assert result.exposure_id == PRODUCT and result.alias == ALIAS
    (step,) = result.steps
    assert step.name == "wfs_combine" and step.counts == {"dx": 6, "dy": -3, "swapped": 1}
    assert (tmp_path / "out" / f"{PRODUCT}_wfscmb.png").stat().st_size > 1000
    expected = _combine(one, two).image
    with dm.open(product) as model:
        assert isinstance(model, dm.ImageModel)
        assert model.data.shape == one.shape and model.dq.dtype == np.uint32
        np.testing.assert_array_equal(model.data, expected.sci)
        np.testing.assert_array_equal(model.err, expected.err)
        np.testing.assert_array_equal(model.dq, expected.dq)
        assert model.meta.cal_step.wfs_combine == "COMPLETE"
        assert model.meta.exposure.type == "NRC_IMAGE"
        assert model.meta.wcsinfo.crpix1 == pytest.approx(SKY_CRPIX[0] - 20)    # the reference image's WCS
        assert model.meta.wcsinfo.s_region.startswith("POLYGON ICRS")
        assert model.meta.filename == product.name


def test_pipeline_runs_every_product_and_names_the_result_after_the_asn(tmp_path, config):
    one, two = _pair()
    members = _write_pair(tmp_path, one, two)
    other = PRODUCT.replace("nrca3", "nrca4")
    asn = _write_asn(tmp_path, [(PRODUCT, members), (other, members)])
    result = calibrate(asn, pipeline_alias=ALIAS, refs_dir=tmp_path, out_dir=tmp_path / "out", config=config)
    assert [p.name for p in result.products] == [f"{PRODUCT}_wfscmb.fits", f"{PRODUCT}_wfscmb.png",
                                                 f"{other}_wfscmb.fits", f"{other}_wfscmb.png"]
    assert result.exposure_id == asn.name.removesuffix(".json") and len(result.steps) == 2


@pytest.mark.parametrize("n_members", [1, 3])
def test_a_product_that_is_not_a_pair_is_an_association_error(tmp_path, config, n_members):
    one, two = _pair()
    members = _write_pair(tmp_path, one, two)
    asn = _write_asn(tmp_path, [(PRODUCT, [*members, members[0]][:n_members])])
    with pytest.raises(AssociationError, match=f"{n_members} science members"):
        calibrate(asn, pipeline_alias=ALIAS, refs_dir=tmp_path, out_dir=tmp_path / "out", config=config)
    assert not (tmp_path / "out").exists()


def test_a_missing_member_file_is_named(tmp_path, config):
    one, two = _pair()
    first, _ = _write_pair(tmp_path, one, two)
    asn = _write_asn(tmp_path, [(PRODUCT, [first, "jw02586173001_03104_00009_nrca3_cal.fits"])])
    with pytest.raises(AssociationError, match=re.escape("jw02586173001_03104_00009_nrca3_cal.fits")):
        calibrate(asn, pipeline_alias=ALIAS, refs_dir=tmp_path, out_dir=tmp_path / "out", config=config)


def _plan(pars):
    return build_plan(pipeline(ALIAS), StageSpec.from_pars(ALIAS, pars))


def test_the_shipped_parameter_file_gives_the_jwst_defaults(config):
    (pars,) = config.library.for_class("jwst.wfs_combine.WfsCombineStep")
    assert _plan(pars).step("wfs_combine") == WfsCombineStep(do_refine=False, flip_dithers=True, psf_size=100,
                                                             blur_size=10, n_size=2)


@pytest.mark.parametrize(("parameters", "message"), [
    ({"do_refine": True, "psf_sise": 50}, "no parameter 'psf_sise'"),
    ({"do_refine": "yes"}, "true or false"),
    ({"psf_size": 0}, "positive integer"),
    ({"blur_size": 2.5}, "positive integer"),
])
def test_bad_parameters_are_config_errors(tmp_path, config, parameters, message):
    text = (Path(config.library.directory) / "pars-wfscombinestep.yaml").read_text()
    body = text.split("parameters:")[0] + "parameters: " + json.dumps(parameters) + "\nsteps: []\n"
    (tmp_path / "pars").mkdir()
    (tmp_path / "pars" / "pars-wfscombinestep.yaml").write_text(body)
    (pars,) = load_pars(tmp_path / "pars", registry=config.table.registry).files
    with pytest.raises(ConfigError, match=message):
        _plan(pars)
