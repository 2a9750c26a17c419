"""Boxcar extraction against traces whose flux is known exactly (issue 11): a Gaussian cross profile integrated
over each pixel (so the whole profile sums to the injected flux), a curved trace, a flat background, and noise
whose variance the errors must describe (pulls of unit width)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from streamcal.dq import Pixel
from streamcal.kernels.spec import BoxcarAperture, extract_boxcar

NDISP, NCROSS, SIGMA = 300, 48, 1.3


def _trace(flux: np.ndarray, centre: np.ndarray, background: float = 0.0) -> np.ndarray:
    """(ncross, ndisp): the profile integrated over each pixel times ``flux``, plus ``background``."""
    edges = np.arange(NCROSS + 1, dtype=np.float64)[:, None] - 0.5
    cdf = 0.5 * (1 + erf((edges - centre[None, :]) / (SIGMA * np.sqrt(2))))
    return np.diff(cdf, axis=0) * flux[None, :] + background


def _spectrum() -> tuple[np.ndarray, np.ndarray]:
    d = np.arange(NDISP, dtype=np.float64)
    flux = 1000.0 * (1.2 + np.sin(d / 40.0)) * (1 - 0.6 * np.exp(-0.5 * ((d - 150) / 3.0) ** 2))
    centre = 23.3 + 0.004 * (d - 150) + 2e-5 * (d - 150) ** 2  # a gently curved trace
    return flux, centre


def test_a_noiseless_trace_is_recovered_exactly_with_its_background_removed() -> None:
    flux, centre = _spectrum()
    image = _trace(flux, centre, background=7.5)
    zeros = np.zeros_like(image)
    out = extract_boxcar(image, var_poisson=zeros, var_rnoise=zeros, dispaxis=1, centre=centre,
                         aperture=BoxcarAperture(8 * SIGMA, bkg_inner=14.0, bkg_outer=22.0))
    np.testing.assert_allclose(out.flux, flux, rtol=1e-9)
    np.testing.assert_allclose(out.background, 7.5, rtol=1e-12)
    np.testing.assert_allclose(out.npixels, 2 * 8 * SIGMA, rtol=1e-12)  # partial pixels weigh their overlap
    assert not out.dq.any()


def test_dispersion_along_y_is_the_same_extraction() -> None:
    flux, centre = _spectrum()
    image = _trace(flux, centre, background=3.0)
    ones = np.ones_like(image)
    aperture = BoxcarAperture(4.0, bkg_inner=10.0, bkg_outer=18.0)
    along_x = extract_boxcar(image, var_poisson=ones, var_rnoise=ones, dispaxis=1, centre=centre, aperture=aperture)
    along_y = extract_boxcar(image.T, var_poisson=ones.T, var_rnoise=ones.T, dispaxis=2, centre=centre,
                             aperture=aperture)
    np.testing.assert_array_equal(along_x.flux, along_y.flux)
    np.testing.assert_array_equal(along_x.var_rnoise, along_y.var_rnoise)


def test_errors_describe_the_scatter() -> None:
    """Pulls (extracted - true) / error over many noise realizations have unit width, with and without the
    background subtraction (whose uncertainty must be propagated too)."""
    rng = np.random.default_rng(7)
    flux, centre = _spectrum()
    flux = 0.05 * flux  # faint, so the background's own uncertainty weighs in the error budget
    truth = _trace(flux, centre, background=20.0)
    var_rnoise = np.full(truth.shape, 25.0)
    pulls: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for _ in range(20):
        noisy = truth + rng.normal(0.0, np.sqrt(truth + var_rnoise))
        for with_bkg in (True, False):
            aperture = BoxcarAperture(3.0, bkg_inner=8.0, bkg_outer=16.0) if with_bkg else BoxcarAperture(3.0)
            out = extract_boxcar(noisy, var_poisson=truth, var_rnoise=var_rnoise, dispaxis=1, centre=centre,
                                 aperture=aperture)
            expected = (_trace(flux, centre) * _weights(centre, 3.0)).sum(axis=0)
            if not with_bkg:
                expected = expected + 20.0 * out.npixels
            pulls[with_bkg].append((out.flux - expected) / out.error)
    for with_bkg, values in pulls.items():
        assert np.std(np.concatenate(values)) == pytest.approx(1.0, abs=0.05), with_bkg
        assert abs(np.mean(np.concatenate(values))) < 0.05


def _weights(centre: np.ndarray, half_width: float) -> np.ndarray:
    """(ncross, ndisp) overlap weights, computed independently of the kernel."""
    j = np.arange(NCROSS, dtype=np.float64)[:, None]
    low, high = centre[None, :] - half_width, centre[None, :] + half_width
    return np.clip(np.minimum(j + 0.5, high) - np.maximum(j - 0.5, low), 0.0, 1.0)


def test_bad_pixels_drop_their_weight_and_an_empty_column_is_flagged() -> None:
    flux, centre = _spectrum()
    image = _trace(flux, centre)
    ones = np.ones_like(image)
    dq = np.zeros(image.shape, np.uint32)
    dq[23, 10] = Pixel.DO_NOT_USE  # one pixel near the trace centre of column 10
    dq[:, 20] = Pixel.DO_NOT_USE  # a whole column
    image[5, 30] = np.nan  # outside the aperture: no effect
    aperture = BoxcarAperture(3.0)
    out = extract_boxcar(image, var_poisson=ones, var_rnoise=ones, dq=dq, dispaxis=1, centre=centre, aperture=aperture)
    full = extract_boxcar(_trace(flux, centre), var_poisson=ones, var_rnoise=ones, dispaxis=1, centre=centre,
                          aperture=aperture)
    assert out.npixels[10] == pytest.approx(full.npixels[10] - 1.0)
    assert out.flux[10] < full.flux[10]
    assert np.isnan(out.flux[20]) and out.dq[20] & Pixel.DO_NOT_USE and out.npixels[20] == 0
    sky = BoxcarAperture(3.0, bkg_inner=6.0, bkg_outer=10.0)
    no_sky = dq.copy()
    no_sky[:, 40] = Pixel.DO_NOT_USE
    no_sky[20:27, 40] = 0  # the aperture is fine, the background region of column 40 is not
    with_sky = extract_boxcar(_trace(flux, centre), var_poisson=ones, var_rnoise=ones, dq=no_sky, dispaxis=1,
                              centre=centre, aperture=sky)
    assert np.isnan(with_sky.flux[40]) and with_sky.dq[40] & Pixel.DO_NOT_USE  # NaN is never left unflagged
    assert out.flux[30] == full.flux[30]
    assert not out.dq[np.arange(NDISP) != 20].any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dispaxis": 3}, "DISPAXIS must be 1 or 2"),
    ({"centre": np.zeros(5)}, "5 trace centres"),
    ({"centre": np.full(NDISP, np.nan)}, "not finite"),
    ({"var_rnoise": np.ones((2, 2))}, "var_rnoise has shape"),
])
def test_bad_inputs_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    image = np.ones((NCROSS, NDISP))
    args: dict[str, object] = {"var_poisson": image, "var_rnoise": image, "dispaxis": 1,
                               "centre": np.full(NDISP, 20.0), "aperture": BoxcarAperture(2.0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        extract_boxcar(image, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "message"), [
    ((0.0,), "positive"), ((2.0, 5.0, None), "both"), ((4.0, 3.0, 8.0), "outside"), ((2.0, 6.0, 5.0), "outside"),
])
def test_bad_apertures_are_clear_errors(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BoxcarAperture(*args)
