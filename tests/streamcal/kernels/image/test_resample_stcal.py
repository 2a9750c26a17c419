"""Parity of our resample with stcal's (``stcal.resample.Resample``, what jwst's resample step runs).

The four cal images of the demo's imaging dither are drizzled onto the same output grid by both. stcal wants
gWCS objects, so the TAN WCSs are rebuilt as gWCS transforms (shift → CD matrix → TAN → sky rotation).

SCI and WHT agree everywhere. The variances agree wherever every input's coverage is unambiguous; at input
edges and next to masked input pixels, float noise in the pixel maps (~1e-9 px) gives an input a sliver of
an output pixel, which stcal counts at its full-pixel variance weight (halving the variance there) and we
do not; those pixels are excluded from the variance comparison and their share is bounded.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import ICRS
from astropy.modeling import models
from gwcs import WCS as GWCS
from gwcs import coordinate_frames as cf
from scipy import ndimage
from stcal.resample import Resample

from streamcal.calibrate import calibrate
from streamcal.kernels.image.resample import ResampleParams, output_wcs, pixel_map, resample
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models import read_image
from streamcal.routing import RoutingConfig
from streamcal.simulate import simulate_program, write_reference_set

_BAD = 1 | 512  # DO_NOT_USE | NON_SCIENCE: the default good_bits "~DO_NOT_USE+NON_SCIENCE"


def _gwcs(wcs, shape):
    ny, nx = shape
    crpix, crval = wcs.wcs.crpix, wcs.wcs.crval
    cd = wcs.wcs.get_pc() * wcs.wcs.cdelt[:, None]
    transform = ((models.Shift(-(crpix[0] - 1)) & models.Shift(-(crpix[1] - 1)))
                 | models.AffineTransformation2D(matrix=cd) | models.Pix2Sky_TAN()
                 | models.RotateNative2Celestial(crval[0], crval[1], 180.0))
    out = GWCS(forward_transform=transform,
               input_frame=cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix)),
               output_frame=cf.CelestialFrame(reference_frame=ICRS(), name="world", unit=(u.deg, u.deg)))
    out.array_shape = shape
    out.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    return out


def _model(image, wcs, group):
    t = float(image.primary["EFFEXPTM"])
    return {"data": image.sci, "dq": image.dq, "filename": image.root, "group_id": group,
            "wcs": _gwcs(wcs, image.shape), "exposure_time": t, "start_time": 0.0, "end_time": t / 86400.0,
            "duration": t, "measurement_time": t, "pixelarea_steradians": float(image.sci_header["PIXAR_SR"]),
            "pixelarea_arcsecsq": float(image.sci_header["PIXAR_A2"]), "level": 0.0, "subtracted": True,
            "var_rnoise": image.var_rnoise, "var_poisson": image.var_poisson, "var_flat": image.var_flat,
            "err": image.err}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resample_stcal")
    config = RoutingConfig.load()
    program = simulate_program("imaging_dither", root / "raw")
    write_reference_set(root / "refs", only=[("NRCA3", "SUB160P")])
    images = []
    for exposure in program.exposures:
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=root / "refs",
                         out_dir=root / "out",
                            config=config).product("rate")
        cal = calibrate(rate, pipeline_alias="calwebb_image2", refs_dir=root / "refs", out_dir=root / "out",
                           config=config).product("cal")
        image = read_image(cal)
        images.append((image, imaging_wcs(image.sci_header, image.shape, primary=image.primary)))
    return images


def _ambiguous(images, grid, shape):
    """Output pixels within 2 px of an input's edge or of a masked input pixel."""
    near = np.zeros(shape, bool)
    for image, wcs in images:
        ny, nx = image.shape
        yy, xx = np.mgrid[0:ny, 0:nx]
        masked = ~np.isfinite(image.sci) | ((image.dq & _BAD) != 0)
        masked |= (yy == 0) | (yy == ny - 1) | (xx == 0) | (xx == nx - 1)
        where = pixel_map(wcs, grid, image.shape)[masked]
        x, y = np.rint(where[:, 0]).astype(int), np.rint(where[:, 1]).astype(int)
        inside = (x >= 0) & (x < shape[1]) & (y >= 0) & (y < shape[0])
        near[y[inside], x[inside]] = True
    return ndimage.binary_dilation(near, iterations=2)


@pytest.mark.parametrize("weight_type", ["ivm", "exptime"])
def test_resample_agrees_with_stcal(inputs, weight_type):
    grid = output_wcs([w for _, w in inputs])
    shape = (grid.pixel_shape[1], grid.pixel_shape[0])
    ours = resample(inputs, params=ResampleParams(weight_type=weight_type), out_wcs=grid)
    pixel_scale = float(np.sqrt(inputs[0][0].sci_header["PIXAR_A2"]))  # arcsec: the output grid keeps the input's
    theirs = Resample({"wcs": _gwcs(grid, shape), "pixel_scale": pixel_scale}, n_input_models=len(inputs),
                      fillval=np.nan, weight_type=weight_type, good_bits=int(~np.uint32(_BAD)),
                      enable_ctx=True, enable_var=True, compute_err="from_var")
    for k, (image, wcs) in enumerate(inputs):
        theirs.add_model(_model(image, wcs, str(k)))
    theirs.finalize()
    out = theirs.output_model
    both = np.isfinite(out["data"]) & np.isfinite(ours.sci)
    assert both.sum() > 0.95 * np.isfinite(out["data"]).sum() > 0.5 * ours.sci.size
    np.testing.assert_allclose(ours.sci[both], out["data"][both], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.wht[both], out["wht"][both], rtol=1e-5)
    clear = both & ~_ambiguous(inputs, grid, shape)
    assert clear.sum() > 0.6 * both.sum()
    for ours_var, name in ((ours.var_rnoise, "var_rnoise"), (ours.var_poisson, "var_poisson"),
                           (ours.var_flat, "var_flat"), (ours.err, "err")):
        np.testing.assert_allclose(ours_var[clear], out[name][clear], rtol=1e-4, err_msg=name)
    differ = both & ~np.isclose(ours.var_rnoise, out["var_rnoise"], rtol=1e-4)
    assert differ.sum() < 0.02 * both.sum()  # the sliver pixels, all at input edges / masked pixels
