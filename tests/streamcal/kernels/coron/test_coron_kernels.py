"""The coronagraphy kernels (issue 12) on hand-built images: align_refs, KLIP, companion photometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamcal.kernels.coron.align import align_references, fill_bad_pixels, shift_image
from streamcal.kernels.coron.klip import klip_subtract
from streamcal.kernels.coron.photometry import aperture_sum, fit_companion, measure_companion

N = 48


def _speckles(seed: int) -> np.ndarray:
    """A smooth, band-limited positive image (a halo with speckles), (N, N)."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(N)
    spectrum = np.fft.fft2(rng.standard_normal((N, N))) * np.exp(-2 * math.pi**2 * 2.0**2 * (k[:, None]**2
                                                                                              + k[None, :]**2))
    field = np.fft.ifft2(spectrum).real
    yy, xx = np.mgrid[0:N, 0:N]
    halo = 1000.0 / (1.0 + ((xx - 24) ** 2 + (yy - 24) ** 2) / 20.0) ** 1.5
    return halo * np.exp(0.5 * field / field.std())


def _region() -> np.ndarray:
    yy, xx = np.mgrid[0:N, 0:N]
    r = np.hypot(xx - 24, yy - 24)
    return (r > 4) & (xx >= 4) & (xx < N - 4) & (yy >= 4) & (yy < N - 4)


@settings(max_examples=6, deadline=None)
@given(dx=st.floats(-1.5, 1.5), dy=st.floats(-1.5, 1.5), scale=st.floats(0.3, 3.0))
def test_align_recovers_a_known_shift_and_scale(dx: float, dy: float, scale: float) -> None:
    target = _speckles(1)
    ref = shift_image(target, -dx, -dy) / scale  # the reference sits at −(dx, dy), `scale` times fainter
    ref.setflags(write=False)  # read-only inputs are accepted
    found = align_references(ref[None], target, weight=_region().astype(float))
    np.testing.assert_allclose(found.shifts[0], (dx, dy), atol=2e-3)
    assert found.scales[0] == pytest.approx(scale, rel=1e-3)
    np.testing.assert_allclose(found.aligned[0][_region()], target[_region()], rtol=1e-3, atol=0.05)


def test_align_refuses_an_empty_weight() -> None:
    with pytest.raises(ValueError, match="zero everywhere"):
        align_references(_speckles(1)[None], _speckles(1), weight=np.zeros((N, N)))


def test_bad_pixels_are_filled_from_their_neighbours_and_the_input_is_kept() -> None:
    image = np.full((5, 20), 3.0, np.float32)
    image[2, 10] = np.nan
    image.setflags(write=False)
    bad = np.zeros(image.shape, bool)
    bad[1, 4] = True
    out = fill_bad_pixels(image, bad)
    assert out[2, 10] == pytest.approx(3.0) and out[1, 4] == pytest.approx(3.0) and np.isnan(image[2, 10])


def test_klip_removes_a_scaled_copy_of_a_reference_and_keeps_a_companion() -> None:
    """The science image is 0.7 × reference 0 plus a companion: one mode removes the star; the companion stays,
    less what its projection on that mode takes."""
    refs = np.stack([_speckles(1), _speckles(2), _speckles(3)])
    yy, xx = np.mgrid[0:N, 0:N]
    companion = 50.0 * np.exp(-((xx - 34) ** 2 + (yy - 24) ** 2) / 2.0)
    science = (0.7 * refs[0] + companion)[None]
    region = _region()
    out = klip_subtract(science, refs[None], region=region, truncate=3)
    assert out.n_modes.tolist() == [3]
    assert np.all(np.isnan(out.subtracted[0][~region]))
    alone = klip_subtract(companion[None], refs[None], region=region, truncate=3).subtracted[0]
    np.testing.assert_allclose(out.subtracted[0][region], alone[region], atol=1e-3)  # linear: the star is gone
    assert aperture_sum(alone, 34, 24, 3) > 0.8 * aperture_sum(companion, 34, 24, 3)


def test_klip_keeps_no_more_modes_than_the_references_hold() -> None:
    refs = np.stack([_speckles(1), 2.0 * _speckles(1)])  # one independent image
    out = klip_subtract(_speckles(1)[None], refs[None], region=_region(), truncate=50)
    assert out.n_modes.tolist() == [1]
    assert np.nanmax(np.abs(out.subtracted)) < 1e-6 * np.max(_speckles(1))
    with pytest.raises(ValueError, match="truncate"):
        klip_subtract(_speckles(1)[None], refs[None], region=_region(), truncate=0)


def test_aperture_sum_of_a_constant_is_the_area() -> None:
    assert aperture_sum(np.ones((40, 40)), 20.3, 19.6, 5.0) == pytest.approx(math.pi * 25.0, rel=5e-3)


def test_a_gaussian_companion_is_fitted_and_measured() -> None:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:N, 0:N]

    def model(x: float, y: float) -> np.ndarray:
        return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.2**2)) / (2 * math.pi * 1.2**2)

    image = 400.0 * model(33.3, 20.6) + rng.normal(0.0, 1.0, (N, N))
    fit = fit_companion(image, model, x=33.8, y=20.2, half=4)
    assert (fit.x, fit.y) == (pytest.approx(33.3, abs=0.05), pytest.approx(20.6, abs=0.05))
    assert fit.flux == pytest.approx(400.0, rel=0.03)
    found = measure_companion(image, x=fit.x, y=fit.y, star=(24.0, 24.0), radius=2.0)
    assert found.snr > 20 and found.n_background >= 5
