"""outlier_detection on a simulated 4-point dithered NIRCam SW star field (FWHM ≈ 2 px, Moffat β = 2.5).

The acceptance criteria: ≥ 95 % of injected cosmic-ray pixels (≥ 10σ) flagged, no star core (the brightest
pixel of any star) flagged, and few clean pixels flagged.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from stcal.outlier_detection import utils as stcal_outlier

from streamcal.dq import Pixel
from streamcal.errors import BadDataShapeError
from streamcal.kernels.image.outlier import (
    OutlierParams,
    OutlierResult,
    flag_cosmic_rays,
    flag_outliers,
    weight_threshold,
)
from streamcal.kernels.image.wcs import imaging_wcs
from streamcal.models.image import ImageData
from streamcal.simulate.wcs import TanWcs

SHAPE = (256, 256)
FWHM = 2.0
BETA = 2.5
SKY = 0.3
RNOISE_VAR = 4e-4       # read-noise variance (MJy/sr)²
POISSON_K = 2e-3        # Poisson variance per unit of signal
DITHERS = ((0.0, 0.0), (5.37, 3.21), (11.63, 7.88), (2.81, 12.45))
BASE = TanWcs(crpix1=128.5, crpix2=128.5, ra_ref=53.16, dec_ref=-27.78, roll_ref=40.0, v3i_yang=-0.5,
              vparity=-1, scale=0.031)


class Frame(NamedTuple):
    image: ImageData
    wcs: object
    cr: np.ndarray          # bool (ny, nx): pixels hit by a ≥10σ cosmic ray
    cores: np.ndarray       # (nstars, 2) int (y, x): brightest pixel of each star in this frame


def _moffat_integrated(shape: tuple[int, int], x: float, y: float, flux: float) -> np.ndarray:
    """A Moffat star integrated over pixels (5×5 sub-sampling), 0-based centre ``(x, y)``."""
    alpha = FWHM / (2.0 * math.sqrt(2.0 ** (1.0 / BETA) - 1.0))
    out = np.zeros(shape)
    r = 20
    y0, y1 = max(0, int(y) - r), min(shape[0], int(y) + r + 1)
    x0, x1 = max(0, int(x) - r), min(shape[1], int(x) + r + 1)
    sub = (np.arange(5) - 2) / 5.0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    acc = np.zeros(yy.shape)
    for dy in sub:
        for dx in sub:
            r2 = ((xx + dx - x) ** 2 + (yy + dy - y) ** 2) / alpha**2
            acc += (1.0 + r2) ** -BETA
    out[y0:y1, x0:x1] = flux * (BETA - 1.0) / (math.pi * alpha**2) * acc / 25.0
    return out


def _catalogue(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.uniform(15, SHAPE[1] - 30, n)
    y = rng.uniform(15, SHAPE[0] - 30, n)
    ra, dec = BASE.pixel_to_world(x, y)
    peak_snr = 10 ** rng.uniform(1.3, 3.7, n)    # star peaks from 20σ to 5000σ of the sky noise
    return ra, dec, peak_snr


def _cosmic_rays(rng: np.random.Generator, err: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Additive CR image and its hit mask: single pixels and 2–4 pixel tracks, 10–300σ per pixel."""
    add = np.zeros(SHAPE)
    hit = np.zeros(SHAPE, dtype=bool)
    for _ in range(n):
        y, x = int(rng.integers(2, SHAPE[0] - 6)), int(rng.integers(2, SHAPE[1] - 6))
        length = 1 if rng.random() < 0.5 else int(rng.integers(2, 5))
        dy, dx = ((0, 1), (1, 0), (1, 1))[int(rng.integers(3))]
        for k in range(length):
            py, px = y + k * dy, x + k * dx
            add[py, px] += rng.uniform(10, 300) * err[py, px]
            hit[py, px] = True
    return add, hit


def simulate(seed: int = 7, *, nstars: int = 60, ncr: int = 120) -> list[Frame]:
    rng = np.random.default_rng(seed)
    ra, dec, peak_snr = _catalogue(rng, nstars)
    sky_err = math.sqrt(RNOISE_VAR + POISSON_K * SKY)
    alpha = FWHM / (2.0 * math.sqrt(2.0 ** (1.0 / BETA) - 1.0))
    flux = peak_snr * sky_err * math.pi * alpha**2 / (BETA - 1.0)
    frames = []
    for i, (ddx, ddy) in enumerate(DITHERS):
        tw = BASE.shifted(ddx, ddy)
        wcs = imaging_wcs(tw.header(), SHAPE)
        x, y = tw.world_to_pixel(ra, dec)
        truth = np.full(SHAPE, SKY)
        cores = []
        for xs, ys, f in zip(x, y, flux, strict=True):
            star = _moffat_integrated(SHAPE, xs, ys, f)
            truth += star
            cores.append(np.unravel_index(np.argmax(star), SHAPE))
        var_p = POISSON_K * truth
        var_r = np.full(SHAPE, RNOISE_VAR)
        err = np.sqrt(var_p + var_r)
        sci = truth + rng.normal(0.0, 1.0, SHAPE) * err
        cr_add, cr_hit = _cosmic_rays(rng, err, ncr)
        image = ImageData(root=f"jw01_{i}", sci=(sci + cr_add).astype(np.float32), err=err.astype(np.float32),
                          dq=np.zeros(SHAPE, np.uint32), var_poisson=var_p.astype(np.float32),
                          var_rnoise=var_r.astype(np.float32), var_flat=np.zeros(SHAPE, np.float32),
                          primary={"EFFEXPTM": 100.0, "PROGRAM": "01345", "OBSERVTN": "001", "VISIT": "001",
                                   "VISITGRP": "01", "SEQ_ID": "1", "ACT_ID": "01", "EXPOSURE": i + 1},
                          sci_header=tw.header())
        frames.append(Frame(image=image, wcs=wcs, cr=cr_hit, cores=np.array(cores)))
    return frames


def _score(frames: list[Frame], result: OutlierResult) -> tuple[float, int, float]:
    hits = found = cores_flagged = clean = false = 0
    for frame, out in zip(frames, result.images, strict=True):
        flagged = (out.dq & Pixel.OUTLIER) != 0
        hits += int(frame.cr.sum())
        found += int((flagged & frame.cr).sum())
        core_mask = np.zeros(SHAPE, dtype=bool)
        core_mask[frame.cores[:, 0], frame.cores[:, 1]] = True
        core_mask &= ~frame.cr                      # a CR landing on a core is a CR
        cores_flagged += int((flagged & core_mask).sum())
        grown = np.zeros(SHAPE, dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                grown |= np.roll(np.roll(frame.cr, dy, 0), dx, 1)
        clean += int((~grown).sum())
        false += int((flagged & ~grown).sum())
    return found / hits, cores_flagged, false / clean


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    return simulate()


@pytest.fixture(scope="module")
def result(frames: list[Frame]) -> OutlierResult:
    return flag_outliers([(f.image, f.wcs) for f in frames])


def test_public_names_import() -> None:
    from streamcal.kernels.image import outlier

    for name in outlier.__all__:
        assert hasattr(outlier, name)


def test_dithered_star_field_recall_and_no_star_cores(frames: list[Frame], result: OutlierResult) -> None:
    recall, cores_flagged, false_rate = _score(frames, result)
    print(f"recall={recall:.4f} cores_flagged={cores_flagged} false_positive_rate={false_rate:.2e}")
    assert recall >= 0.95
    assert cores_flagged == 0
    assert false_rate < 1e-3


def test_flagged_pixels_are_nan_and_dnu(frames: list[Frame], result: OutlierResult) -> None:
    for frame, out, n in zip(frames, result.images, result.n_flagged, strict=True):
        flagged = (out.dq & Pixel.OUTLIER) != 0
        assert n == int(flagged.sum()) > 0
        assert np.all((out.dq[flagged] & Pixel.DO_NOT_USE) != 0)
        for arr in (out.sci, out.err, out.var_poisson, out.var_rnoise, out.var_flat):
            assert arr is not None
            assert np.all(np.isnan(arr[flagged]))
            assert np.all(np.isfinite(arr[~flagged]))
        # the input is untouched
        assert np.all(frame.image.dq == 0)
        assert np.all(np.isfinite(frame.image.sci))
        assert out is not frame.image and "S_OUTLIR" not in out.primary


def test_median_is_mosaic_sized(result: OutlierResult) -> None:
    nx, ny = result.median_wcs.pixel_shape
    assert result.median.shape == (ny, nx)
    assert result.median.dtype == np.float32


def test_background_level_is_compared_subtracted(frames: list[Frame]) -> None:
    """An image whose sky is 5 higher but says so in BKGLEVEL must not light up."""
    shifted = [(f.image, f.wcs) for f in frames[:3]]
    last = frames[3].image
    bumped = last.replace(sci=last.sci + np.float32(5.0), sci_header={**last.sci_header, "BKGLEVEL": 5.0,
                                                                         "BKGSUB": False})
    out = flag_outliers([*shifted, (bumped, frames[3].wcs)])
    flagged = (out.images[3].dq & Pixel.OUTLIER) != 0
    assert (flagged & ~frames[3].cr).sum() < 20


def test_without_resampling_same_grid() -> None:
    rng = np.random.default_rng(3)
    images = []
    wcs = imaging_wcs(BASE.header(), (32, 32))
    for i in range(5):
        sci = rng.normal(1.0, 0.1, (32, 32)).astype(np.float32)
        if i == 2:
            sci[10, 12] += 5.0
        v = np.full((32, 32), 0.005, np.float32)
        images.append((ImageData(root=f"x{i}", sci=sci, err=np.full((32, 32), 0.1, np.float32),
                                 dq=np.zeros((32, 32), np.uint32), var_poisson=v, var_rnoise=v), wcs))
    out = flag_outliers(images, params=OutlierParams(resample_data=False))
    assert bool(out.images[2].dq[10, 12] & Pixel.OUTLIER)
    assert sum(out.n_flagged) < 5


def test_cube_is_rejected() -> None:
    cube = np.zeros((2, 8, 8), np.float32)
    image = ImageData(root="c", sci=cube, err=cube, dq=np.zeros((2, 8, 8), np.uint32), var_poisson=cube,
                      var_rnoise=cube)
    with pytest.raises(BadDataShapeError):
        flag_outliers([(image, imaging_wcs(BASE.header(), (8, 8)))])


def test_detectors_of_one_exposure_share_a_mosaic() -> None:
    from streamcal.kernels.image.outlier import _groups

    keys = {"PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "VISITGRP": "02", "SEQ_ID": "1", "ACT_ID": "01"}
    v = np.zeros((2, 2), np.float32)

    def image(**primary: object) -> ImageData:
        return ImageData(root="r", sci=v, err=v, dq=np.zeros((2, 2), np.uint32), var_poisson=v, var_rnoise=v,
                         primary=dict(primary))

    images = [image(**keys, EXPOSURE=1), image(**keys, EXPOSURE=2), image(**keys, EXPOSURE=1), image(**keys),
              image()]
    assert _groups(images) == [[0, 2], [1], [3], [4]]


def test_threshold_pairs_accept_jwst_strings() -> None:
    from streamcal.errors import InvalidInputError

    assert OutlierParams(snr="5.0 4.0", scale=[1.2, 0.7]) == OutlierParams()  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        OutlierParams(snr="5.0")  # type: ignore[arg-type]


def test_the_cosmic_ray_test_and_weight_threshold_are_stcals():
    """Parity with stcal 1.20 (jwst's implementation) on noisy images with NaNs, stars and hits."""
    rng = np.random.default_rng(5)
    for trial in range(5):
        shape = (97, 131)
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        blot = np.zeros(shape, np.float32)
        for x0, y0, amp in rng.uniform((0, 0, 50), (shape[1], shape[0], 5000), (12, 3)):
            blot += (amp * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 2.0)).astype(np.float32)
        err = np.sqrt(1.0 + np.abs(blot)).astype(np.float32)
        sci = (blot + rng.normal(0, 1, shape) * err).astype(np.float32)
        hits = rng.integers(0, sci.size, 60)
        sci.flat[hits] += rng.uniform(20, 500, 60).astype(np.float32)
        for array in (sci, err, blot):
            array.flat[rng.integers(0, sci.size, 40)] = np.nan
        params = OutlierParams(backg=0.5 * trial)
        ours = flag_cosmic_rays(sci, err, blot, params=params)
        theirs = stcal_outlier.flag_resampled_crs(sci, err, blot, *params.snr, *params.scale, params.backg)
        np.testing.assert_array_equal(ours, theirs)
        assert ours[np.unravel_index(hits, shape)].mean() > 0.5  # the test is not vacuous
        weight = np.abs(rng.normal(10, 2, shape)).astype(np.float32)
        weight[:10] = 0
        weight[20, 20] = 1e4
        assert weight_threshold(weight, 0.7) == pytest.approx(stcal_outlier.compute_weight_threshold(weight, 0.7),
                                                              rel=1e-6)


def test_a_large_stack_goes_to_a_memory_mapped_file_with_the_same_result(frames: list[Frame],
                                                                        result: OutlierResult) -> None:
    """Past ``in_memory_bytes`` the per-exposure mosaics live in a temporary file; the flags do not change."""
    images = [(f.image, f.wcs) for f in frames]
    on_disk = flag_outliers(images, params=OutlierParams(in_memory_bytes=1))
    np.testing.assert_array_equal(on_disk.median, result.median)
    for a, b in zip(on_disk.images, result.images, strict=True):
        np.testing.assert_array_equal(a.dq, b.dq)
