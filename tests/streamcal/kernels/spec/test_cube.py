"""The IFU cube kernels (issue 11): 3-D drizzle conserves flux and propagates variances as ``R∘R @ v``; the
aperture extraction returns a known flux with the variance of its linear operator; the source is located."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.special import ndtr

from streamcal.kernels.spec import cube as cube_module
from streamcal.kernels.spec import ifu_extract
from streamcal.kernels.spec.cube import CubeGrid, drizzle_weights, resample
from streamcal.kernels.spec.ifu_extract import extract_aperture, locate_source


def test_every_listed_name_imports() -> None:
    for module in (cube_module, ifu_extract):
        for name in module.__all__:
            assert getattr(module, name) is not None


def _boxes(n_slices: int, n_alpha: int, n_wave: int, *, wave_shift: float = 0.0):
    """Pixel boxes of a small slicer: slices of width 1 tiling beta, pixels of width 1 tiling alpha, wavelength
    pixels of width 1 (each slice shifted by ``wave_shift`` per slice)."""
    s, a, w = np.meshgrid(np.arange(n_slices), np.arange(n_alpha), np.arange(n_wave), indexing="ij")
    shift = s * wave_shift
    return (a.astype(float), a + 1.0, s.astype(float), s + 1.0, w + shift, w + 1.0 + shift)


def test_a_hand_built_aligned_grid_gives_each_voxel_its_pixels() -> None:
    """2 slices × 3 alpha pixels × 4 wavelength pixels onto the same grid: the matrix is the identity."""
    edges = _boxes(2, 3, 4)
    grid = CubeGrid(0.0, 1.0, 0.0, 1.0, 0.0, 1.0, (4, 2, 3))
    weights = drizzle_weights(*(e.ravel() for e in edges), grid=grid)
    values = np.arange(24, dtype=float)
    cube = resample(values, weights)
    s, a, w = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    np.testing.assert_array_equal(cube[w.ravel(), s.ravel(), a.ravel()], values)
    np.testing.assert_allclose(weights.coverage, 1.0)
    assert (weights.npix == 1).all()


def _overlap(lo: np.ndarray, hi: np.ndarray, start: float, stop: float) -> np.ndarray:
    return np.clip(np.minimum(hi, stop) - np.maximum(lo, start), 0.0, None)


@settings(max_examples=15, deadline=None)
@given(step=st.floats(0.3, 1.7), offset=st.floats(-0.5, 0.5), shift=st.floats(0.0, 0.9), seed=st.integers(0, 99))
def test_drizzle_conserves_flux_and_propagates_variance(step: float, offset: float, shift: float, seed: int) -> None:
    """On a grid inside the pixels' footprint, Σ SB·volume over the cube equals the flux of the pixels in the
    grid's volume (computed from their boxes directly); a flat field stays flat; the variance is R∘R @ v
    exactly; read-only inputs are accepted."""
    rng = np.random.default_rng(seed)
    edges = [e.ravel() for e in _boxes(6, 8, 12, wave_shift=shift)]
    for e in edges:
        e.setflags(write=False)
    n_a, n_b = int(5 / step), int(4 / step)
    grid = CubeGrid(1.0 + offset * 0.1, step, 1.0, step, 5.0, 1.0, (6, n_b, n_a))
    weights = drizzle_weights(*edges, grid=grid)
    np.testing.assert_allclose(resample(np.full(edges[0].size, 3.0), weights), 3.0)
    np.testing.assert_allclose(weights.coverage, 1.0, rtol=1e-9)
    values = rng.normal(size=edges[0].size)
    voxel = grid.alpha_step * grid.beta_step * grid.wave_step
    inside = (_overlap(edges[0], edges[1], grid.alpha_start, grid.alpha_start + n_a * step)
              * _overlap(edges[2], edges[3], grid.beta_start, grid.beta_start + n_b * step)
              * _overlap(edges[4], edges[5], grid.wave_start, grid.wave_start + 6.0))
    assert resample(values, weights).sum() * voxel == pytest.approx(float(values @ inside), rel=1e-9, abs=1e-9)
    variance = rng.uniform(0.5, 2.0, edges[0].size)
    expected = np.asarray(weights.matrix.power(2) @ variance).reshape(grid.shape)
    np.testing.assert_allclose(resample(variance, weights, variance=True), expected)


def test_flux_is_conserved_over_a_whole_plane_cube() -> None:
    """A grid covering the whole field (empty voxels outside): the plane's flux equals the pixels' flux."""
    edges = [e.ravel() for e in _boxes(5, 7, 3)]
    grid = CubeGrid(-0.35, 0.45, -0.2, 0.6, 0.0, 1.0, (3, 10, 18))
    weights = drizzle_weights(*edges, grid=grid)
    values = np.random.default_rng(1).uniform(1, 2, edges[0].size)
    cube = resample(values, weights)
    volume = weights.coverage * grid.alpha_step * grid.beta_step * grid.wave_step
    np.testing.assert_allclose(np.nansum(cube * volume), values.sum(), rtol=1e-12)


def _gaussian_cube(flux_sb_total: float, sigma: float, centre: tuple[float, float], step: float, n: int,
                   nw: int, sky: float) -> tuple[np.ndarray, np.ndarray]:
    """A cube whose spaxels hold the mean surface brightness of a Gaussian (total ``flux_sb_total`` in
    SB·arcsec² units) plus a sky."""
    axis = (np.arange(n) - n / 2 + 0.5) * step
    edges = np.concatenate([axis - step / 2, [axis[-1] + step / 2]])
    pa = np.diff(ndtr((edges - centre[0]) / sigma))
    pb = np.diff(ndtr((edges - centre[1]) / sigma))
    plane = flux_sb_total * pb[:, None] * pa[None, :] / step**2 + sky
    return np.repeat(plane[None], nw, axis=0), axis


def test_the_aperture_returns_the_source_flux_and_its_exact_variance() -> None:
    sr = (math.pi / 648000) ** 2
    sb_total = 1e-3 / 1e6 / sr  # 1 mJy as MJy/sr·arcsec² ... spread over the PSF
    cube, axis = _gaussian_cube(sb_total, 0.1, (0.05, -0.03), 0.1, 40, 3, sky=5.0)
    nw = cube.shape[0]
    matrix = sparse.identity(cube.size, format="csr")
    var = np.full(cube.size, 0.04)
    out = extract_aperture(cube, matrix, (var, var * 0, var * 0), alpha=axis, beta=axis, centre=(0.05, -0.03),
                           radius=np.full(nw, 0.6), inner=np.full(nw, 0.8), outer=np.full(nw, 1.5),
                           spaxel_sr=0.01 * sr)
    np.testing.assert_allclose(out.flux, 1e-3 * (1 - math.exp(-0.5 * 36)), rtol=2e-3)
    np.testing.assert_allclose(out.background, 5.0, rtol=1e-9)
    assert out.complete.all() and np.all(out.npixels == pytest.approx(math.pi * 36, rel=0.02))
    # the operator: sum(a) − A·mean(b); its variance is Σ c² v with c = Ω·1e6·(a − A b / B)
    a_area, b_area = out.npixels[0], None
    assert b_area is None and a_area > 0
    assert np.all(out.flux_var[0] > 0.04 * (0.01 * sr * 1e6) ** 2 * a_area)  # more than the aperture alone


def test_pulls_of_the_aperture_are_unit_wide() -> None:
    """Noise drawn with the stated variances through a non-trivial resampling gives unit-wide pulls."""
    rng = np.random.default_rng(5)
    edges = [e.ravel() for e in _boxes(12, 12, 4, wave_shift=0.3)]
    grid = CubeGrid(0.0, 0.8, 0.0, 0.8, 1.0, 1.0, (2, 15, 15))
    weights = drizzle_weights(*edges, grid=grid)
    _, beta, alpha = grid.centres()
    truth = np.ones(edges[0].size)
    var = rng.uniform(0.5, 1.5, truth.size)
    fluxes = []
    for _ in range(300):
        cube = resample(truth + rng.normal(size=truth.size) * np.sqrt(var), weights)
        out = extract_aperture(cube, weights.matrix, (var, 0 * var, 0 * var), alpha=alpha, beta=beta,
                               centre=(6.0, 6.0), radius=np.full(2, 2.0), inner=np.full(2, 3.0),
                               outer=np.full(2, 5.5), spaxel_sr=1.0)
        fluxes.append(out.flux / np.sqrt(out.flux_var[0]))
    pulls = np.array(fluxes)
    assert np.std(pulls) == pytest.approx(1.0, abs=0.06)
    assert abs(np.mean(pulls)) < 0.1


def test_the_source_is_located_to_a_small_fraction_of_a_spaxel() -> None:
    cube, axis = _gaussian_cube(100.0, 0.12, (0.23, -0.11), 0.1, 30, 5, sky=1.0)
    a0, b0 = locate_source(cube, alpha=axis, beta=axis, sigma=0.15)
    assert a0 == pytest.approx(0.23, abs=0.005) and b0 == pytest.approx(-0.11, abs=0.005)
    with pytest.raises(ValueError, match="no data"):
        locate_source(np.full((2, 3, 3), np.nan), alpha=axis[:3], beta=axis[:3], sigma=0.1)


def test_a_bad_pixel_leaves_its_voxel_empty_rather_than_filled_by_a_rounding_sliver() -> None:
    """Pinned failure (issue 11, found by the NRS_IFU chain's pulls): box edges on cell edges left ~1e-17 slivers
    in the neighbouring cells, and a voxel whose own pixel was bad took its neighbour's value at full weight."""
    alpha = (np.arange(5) - 2.5) * 0.1  # edges at multiples of 0.1 that are not exact in binary
    keep = np.array([True, True, False, True, True])  # the middle pixel is bad
    lo, hi = alpha[keep], alpha[keep] + 0.1
    ones = np.ones(lo.size)
    grid = CubeGrid(-0.25, 0.1, 0.0, 1.0, 0.0, 1.0, (1, 1, 5))
    weights = drizzle_weights(lo, hi, 0 * ones, ones, 0 * ones, ones, grid=grid)
    cube = resample(np.arange(lo.size, dtype=float), weights)
    assert np.isnan(cube[0, 0, 2]) and weights.npix[0, 0, 2] == 0
    assert (weights.npix[0, 0, keep] == 1).all()
