"""resample: output grid, size guard, identity, flux conservation, context bits and variance propagation."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from drizzle.utils import decode_context

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.image.resample import (
    Mosaic,
    MosaicTooLargeError,
    ResampleParams,
    blot,
    output_wcs,
    resample,
)
from streamcal.kernels.image.wcs import footprint, imaging_wcs
from streamcal.models.image import ImageData
from streamcal.simulate.wcs import TanWcs

SHAPE = (90, 110)
BASE = TanWcs(crpix1=55.5, crpix2=45.5, ra_ref=80.5, dec_ref=-69.5, roll_ref=30.0, v3i_yang=-0.56, vparity=-1,
              scale=0.031)


def _image(tw: TanWcs, *, sci: np.ndarray | None = None, var: float = 0.01, seed: int = 0,
           exptime: float = 100.0, var_flat: bool = True) -> tuple[ImageData, object]:
    rng = np.random.default_rng(seed)
    data = rng.normal(1.0, math.sqrt(3 * var), SHAPE) if sci is None else sci
    v = np.full(SHAPE, var, np.float32)
    image = ImageData(root=f"jw_{seed}", sci=np.asarray(data, np.float32), err=np.full(SHAPE, math.sqrt(3 * var),
                      np.float32), dq=np.zeros(SHAPE, np.uint32), var_poisson=v, var_rnoise=v.copy(),
                      var_flat=v.copy() if var_flat else None, primary={"EFFEXPTM": exptime},
                      sci_header=tw.header())
    for arr in (image.sci, image.err, image.dq, image.var_poisson, image.var_rnoise):
        arr.setflags(write=False)  # resample must never write into its inputs
    return image, imaging_wcs(tw.header(), SHAPE)


def _gaussian_star(x0: float, y0: float, flux: float, sigma: float = 1.5) -> np.ndarray:
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    return flux / (2 * math.pi * sigma**2) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))


def test_public_names_import() -> None:
    from streamcal.kernels.image import resample as module

    for name in module.__all__:
        assert hasattr(module, name)


def test_output_wcs_covers_union_and_aligns_with_first() -> None:
    wcss = [_image(BASE.shifted(dx, dy))[1] for dx, dy in ((0, 0), (12.3, -7.6), (-20.5, 30.2))]
    out = output_wcs(wcss)
    nx, ny = out.pixel_shape
    for w in wcss:
        x, y = out.world_to_pixel_values(*footprint(w).T)
        assert np.all((x >= -0.5 - 1e-6) & (x <= nx - 0.5 + 1e-6) & (y >= -0.5 - 1e-6) & (y <= ny - 0.5 + 1e-6))
    # the first input's pixel centres fall on output pixel centres
    x, y = out.world_to_pixel_values(*wcss[0].pixel_to_world_values(np.array([0.0, 17.0]), np.array([0.0, 33.0])))
    np.testing.assert_allclose(x, np.round(x), atol=1e-6)
    np.testing.assert_allclose(y, np.round(y), atol=1e-6)
    np.testing.assert_allclose(out.wcs.get_pc(), wcss[0].wcs.get_pc())
    assert (nx, ny) == (144, 129)  # x edges: -0.5 - 20.5 → 109.5 + 12.3; y: -0.5 - 7.6 → 89.5 + 30.2


def test_absurd_pointing_raises_before_allocating() -> None:
    _, good = _image(BASE)
    bad = TanWcs(crpix1=55.5, crpix2=45.5, ra_ref=80.5, dec_ref=-59.5, roll_ref=30.0, v3i_yang=-0.56,
                 vparity=-1, scale=0.031)                           # CRVAL2 moved by 10 degrees
    start = time.perf_counter()
    with pytest.raises(MosaicTooLargeError) as info:
        output_wcs([good, _image(bad)[1]])
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "200000000" in message and "GiB" in message and "pointing" in message
    assert isinstance(info.value, InvalidInputError) and not info.value.retriable
    with pytest.raises(MosaicTooLargeError):
        resample([_image(BASE), _image(bad)])
    antipode = TanWcs(crpix1=55.5, crpix2=45.5, ra_ref=260.5, dec_ref=69.5, roll_ref=30.0, v3i_yang=-0.56,
                      vparity=-1, scale=0.031)
    with pytest.raises(MosaicTooLargeError):
        output_wcs([good, _image(antipode)[1]])


def test_single_image_onto_its_own_grid_is_identity() -> None:
    image, wcs = _image(BASE, seed=3)
    for out_wcs in (wcs, None):
        mosaic = resample([(image, wcs)], out_wcs=out_wcs)
        assert mosaic.sci.shape == SHAPE and mosaic.sci.dtype == np.float32
        np.testing.assert_allclose(mosaic.sci, image.sci, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(mosaic.err, image.err, rtol=1e-6)
        np.testing.assert_allclose(mosaic.var_rnoise, image.var_rnoise, rtol=1e-6)
        np.testing.assert_allclose(mosaic.wht, 1.0 / image.var_rnoise, rtol=1e-6)
    assert mosaic.con.shape == (1, *SHAPE) and np.all(mosaic.con == 1)


def test_bad_pixels_and_background_level() -> None:
    image, wcs = _image(BASE, seed=4)
    dq = image.dq.copy()
    dq[10, 20] = Pixel.DO_NOT_USE
    dq[11, 20] = Pixel.SATURATED       # usable under the default good_bits
    sci = image.sci.copy()
    sci[12, 20] = np.nan
    image = image.replace(dq=dq, sci=sci, sci_header={**image.sci_header, "BKGLEVEL": 0.25, "BKGSUB": False})
    mosaic = resample([(image, wcs)], out_wcs=wcs)
    assert np.isnan(mosaic.sci[10, 20]) and np.isnan(mosaic.sci[12, 20]) and mosaic.wht[10, 20] == 0
    assert np.isnan(mosaic.err[10, 20]) and mosaic.con[0, 10, 20] == 0
    assert mosaic.sci[11, 20] == pytest.approx(image.sci[11, 20] - 0.25, abs=1e-6)
    done = image.replace(sci_header={**image.sci_header, "BKGSUB": True})
    assert resample([(done, wcs)], out_wcs=wcs).sci[11, 20] == pytest.approx(image.sci[11, 20], abs=1e-6)


@pytest.mark.parametrize(("pixfrac", "kernel"), [(1.0, "square"), (0.6, "square"), (1.0, "turbo")])
def test_flux_is_conserved(pixfrac: float, kernel: str) -> None:
    images = []
    for k, (dx, dy) in enumerate(((0, 0), (4.37, 2.81), (9.62, 7.14))):
        tw = BASE.shifted(dx, dy)
        x, y = tw.world_to_pixel(*BASE.pixel_to_world(40.3, 50.7))
        images.append(_image(tw, sci=0.0 + _gaussian_star(float(x), float(y), 1000.0), seed=k))
    mosaic = resample(images, params=ResampleParams(pixfrac=pixfrac, kernel=kernel))
    total = float(np.nansum(mosaic.sci))   # same plate scale: MJy/sr × pixel area ∝ plain sum
    assert total == pytest.approx(1000.0, rel=1e-3)
    half = resample(images, params=ResampleParams(pixel_scale_ratio=0.5))
    assert float(np.nansum(half.sci)) * 0.25 == pytest.approx(1000.0, rel=1e-3)


def test_context_bits_name_the_contributors() -> None:
    tws = [BASE.shifted(dx, 0.0) for dx in (0.0, 50.0, 100.0)]
    mosaic = resample([_image(tw, seed=k) for k, tw in enumerate(tws)])
    ny, nx = mosaic.sci.shape
    assert mosaic.con.dtype == np.int32 and mosaic.con.shape == (1, ny, nx)
    row = ny // 2
    first_only = decode_context(mosaic.con, [5], [row])[0].tolist()
    overlap = decode_context(mosaic.con, [75], [row])[0].tolist()
    last_only = decode_context(mosaic.con, [nx - 5], [row])[0].tolist()
    assert (first_only, overlap, last_only) == ([0], [0, 1], [2])
    assert mosaic.header(ResampleParams())["NDRIZ"] == 3


def test_variance_of_n_identical_noise_inputs() -> None:
    n = 4
    images = [_image(BASE, seed=k, var=0.02) for k in range(n)]
    mosaic = resample(images, out_wcs=images[0][1])
    np.testing.assert_allclose(mosaic.err, math.sqrt(3 * 0.02) / math.sqrt(n), rtol=1e-5)
    np.testing.assert_allclose(mosaic.var_rnoise, 0.02 / n, rtol=1e-5)
    # the pixel scatter of the mosaic agrees with its ERR
    assert float(np.std(mosaic.sci)) == pytest.approx(float(np.median(mosaic.err)), rel=0.05)
    exptime = resample(images, out_wcs=images[0][1], params=ResampleParams(weight_type="exptime"))
    np.testing.assert_allclose(exptime.err, math.sqrt(3 * 0.02) / math.sqrt(n), rtol=1e-5)
    assert exptime.exptime == pytest.approx(n * 100.0)


def test_var_flat_missing_is_zero_and_header() -> None:
    images = [_image(BASE.shifted(3.5, 1.25 * k), seed=k, var_flat=False) for k in range(2)]
    mosaic = resample(images)
    assert isinstance(mosaic, Mosaic)
    assert np.all(mosaic.var_flat[mosaic.wht > 0] == 0)
    assert np.all(np.isnan(mosaic.sci[mosaic.wht == 0]))
    header = mosaic.header(ResampleParams(pixfrac=0.8))
    assert header["PIXFRAC"] == 0.8 and header["RESWHT"] == "ivm" and header["PXSCLRT"] == 1.0
    assert header["BUNIT"] == "MJy/sr" and str(header["S_REGION"]).startswith("POLYGON ICRS")
    assert header["CTYPE1"] == "RA---TAN"


def test_blot_returns_the_input_of_a_dithered_smooth_scene() -> None:
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    images = []
    for k, dx in enumerate((0.0, 3.3)):
        tw = BASE.shifted(dx, 0.0)
        x0, y0 = tw.world_to_pixel(*BASE.pixel_to_world(55.0, 45.0))
        smooth = 1.0 + 0.01 * (xx - x0) + 0.02 * (yy - y0)
        images.append(_image(tw, sci=smooth, seed=k))
    mosaic = resample(images)
    back = blot(mosaic.sci, mosaic.wcs, images[1][1], SHAPE)
    assert back.shape == SHAPE and back.dtype == np.float32
    inner = (slice(5, -5), slice(5, -5))
    np.testing.assert_allclose(back[inner], images[1][0].sci[inner], atol=1e-4)


def test_rejects_cubes_and_bad_parameters() -> None:
    cube = np.zeros((2, *SHAPE), np.float32)
    image = ImageData(root="c", sci=cube, err=cube, dq=np.zeros(cube.shape, np.uint32), var_poisson=cube,
                      var_rnoise=cube)
    with pytest.raises(BadDataShapeError):
        resample([(image, _image(BASE)[1])])
    with pytest.raises(InvalidInputError):
        ResampleParams(weight_type="ivm-smed")


def test_pixel_map_matches_calc_pixmap() -> None:
    from drizzle.utils import calc_pixmap

    from streamcal.kernels.image.resample import pixel_map

    shape = (300, 260)
    w_from = imaging_wcs(BASE.shifted(7.3, -4.1).header(), shape)
    w_to = output_wcs([w_from, imaging_wcs(BASE.header(), shape)], pixel_scale_ratio=0.7)
    exact = calc_pixmap(w_from, w_to, shape=shape)
    assert np.abs(pixel_map(w_from, w_to, shape) - exact).max() < 1e-7
