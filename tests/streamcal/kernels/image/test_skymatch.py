"""skymatch: known additive sky offsets on overlapping dithered images are recovered."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError, InvalidInputError
from streamcal.kernels.image.skymatch import SkyMatchParams, SkyResult, match_sky, sky_statistic
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models.image import ImageData
from streamcal.simulate.wcs import TanWcs

SHAPE = (200, 240)
SIGMA = 1.0
OFFSETS = (6.0, 0.0, 25.0, 14.5, 40.0)
DITHERS = ((0, 0), (40.3, 25.7), (-30.2, 60.1), (80.5, -20.4), (15.0, 15.0))
BASE = TanWcs(crpix1=120.5, crpix2=100.5, ra_ref=150.1, dec_ref=2.2, roll_ref=75.0, v3i_yang=0.0, vparity=-1,
              scale=0.063)


def _scene(x: np.ndarray, y: np.ndarray, tw: TanWcs, stars: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A sky with a common astrophysical gradient-free background of 100 plus compact sources."""
    out = np.full(x.shape, 100.0)
    sx, sy = tw.world_to_pixel(*stars)
    for xs, ys in zip(sx, sy, strict=True):
        out += 500.0 * np.exp(-((x - xs) ** 2 + (y - ys) ** 2) / 2.0)
    return out


def _images(seed: int = 0, offsets: tuple[float, ...] = OFFSETS) -> list[tuple[ImageData, object]]:
    rng = np.random.default_rng(seed)
    star_ra, star_dec = BASE.pixel_to_world(rng.uniform(-80, 320, 80), rng.uniform(-80, 280, 80))
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
    out = []
    for k, ((dx, dy), off) in enumerate(zip(DITHERS, offsets, strict=True)):
        tw = BASE.shifted(dx, dy)
        sci = _scene(xx, yy, tw, (star_ra, star_dec)) + off + rng.normal(0, SIGMA, SHAPE)
        dq = np.zeros(SHAPE, np.uint32)
        dq[:4, :] = Pixel.DO_NOT_USE | Pixel.NON_SCIENCE
        sci[:4, :] = 1e6                        # junk the DQ mask must hide
        v = np.full(SHAPE, SIGMA**2 / 2, np.float32)
        image = ImageData(root=f"i{k}", sci=sci.astype(np.float32), err=np.full(SHAPE, SIGMA, np.float32), dq=dq,
                          var_poisson=v, var_rnoise=v, sci_header=tw.header())
        out.append((image, imaging_wcs(tw.header(), SHAPE)))
    return out


def test_public_names_import() -> None:
    from streamcal.kernels.image import skymatch

    for name in skymatch.__all__:
        assert hasattr(skymatch, name)


@pytest.mark.parametrize("skystat", ["median", "mode"])
def test_match_recovers_offsets(skystat: str) -> None:
    images = _images()
    result = match_sky(images, params=SkyMatchParams(skystat=skystat))
    expected = np.array(OFFSETS) - min(OFFSETS)
    error = np.abs(np.array(result.levels) - expected)
    spread = max(OFFSETS) - min(OFFSETS)
    print(f"{skystat}: max |level - truth| = {error.max():.4f} (1% of spread = {0.01 * spread})")
    assert error.max() < 0.01 * spread
    assert min(result.levels) == 0.0
    for (before, _), after, level in zip(images, result.images, result.levels, strict=True):
        assert after.sci_header["BKGLEVEL"] == level
        assert after.sci_header["BKGSUB"] is False
        np.testing.assert_array_equal(after.sci, before.sci)
        assert "BKGLEVEL" not in before.sci_header


def test_match_median_to_noise_precision() -> None:
    result = match_sky(_images(seed=4), params=SkyMatchParams(skystat="median"))
    expected = np.array(OFFSETS) - min(OFFSETS)
    # each overlap holds >= 5000 pixels: a few σ/sqrt(N) with the median's 1.25 efficiency factor
    assert np.abs(np.array(result.levels) - expected).max() < 5 * 1.25 * SIGMA / math.sqrt(5000)


def test_subtract_applies_levels() -> None:
    images = _images()
    result = match_sky(images, params=SkyMatchParams(subtract=True, skystat="median"))
    for (before, _), after, level in zip(images, result.images, result.levels, strict=True):
        assert after.sci_header["BKGSUB"] is True
        np.testing.assert_allclose(after.sci, before.sci - np.float32(level), rtol=1e-6)


def test_local_and_global() -> None:
    images = _images()
    local = match_sky(images, params=SkyMatchParams(skymethod="local", skystat="median"))
    # local sky = 100 + offset (sources are sparse and clipped)
    np.testing.assert_allclose(local.levels, 100.0 + np.array(OFFSETS), atol=0.3)
    glob = match_sky(images, params=SkyMatchParams(skymethod="global", skystat="median"))
    assert glob.levels == [min(local.levels)] * len(images)


def test_disjoint_image_gets_zero() -> None:
    images = _images()[:2]
    far = TanWcs(crpix1=120.5, crpix2=100.5, ra_ref=151.0, dec_ref=2.2, roll_ref=75.0, v3i_yang=0.0,
                 vparity=-1, scale=0.063)
    lone = images[0][0].replace(sci=images[0][0].sci + np.float32(50.0))
    result = match_sky([*images, (lone, imaging_wcs(far.header(), SHAPE))], params=SkyMatchParams(skystat="median"))
    assert result.levels[2] == 0.0
    assert result.levels[0] == pytest.approx(6.0, abs=0.1)


def test_sky_statistic_mode_of_skewed_data() -> None:
    rng = np.random.default_rng(1)
    data = np.concatenate([rng.normal(10.0, 1.0, 200_000), rng.exponential(20.0, 20_000) + 10.0])
    assert sky_statistic(data, params=SkyMatchParams(skystat="mode")) == pytest.approx(10.0, abs=0.1)
    assert math.isnan(sky_statistic(np.array([np.nan])))


def test_bad_parameters_and_shapes() -> None:
    with pytest.raises(InvalidInputError):
        SkyMatchParams(skymethod="globalmatch")
    cube = np.zeros((2, 8, 8), np.float32)
    image = ImageData(root="c", sci=cube, err=cube, dq=np.zeros((2, 8, 8), np.uint32), var_poisson=cube,
                      var_rnoise=cube)
    with pytest.raises(BadDataShapeError):
        match_sky([(image, imaging_wcs(BASE.header(), (8, 8)))])
    assert isinstance(match_sky([]), SkyResult)
