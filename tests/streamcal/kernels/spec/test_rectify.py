"""Rectification of a trace onto a wavelength grid (issue 11): whole-pixel shifts across the dispersion
(exact copies: sums and noise preserved), flux-conserving rebinning along it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf

from streamcal.dq import Pixel
from streamcal.kernels.spec import BoxcarAperture, extract_boxcar
from streamcal.kernels.spec.combine2d import combine_rectified
from streamcal.kernels.spec.rectify import Rectified, common_grid, grid_edges, rectify_trace

NCROSS, NDISP = 9, 6


def _image() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 9 × 6 image (dispersion along x) with values that name their pixel, a trace at y = 4.3 → 5.2 and a
    wavelength falling with x (as SOSS and the LRS prism run)."""
    y, x = np.mgrid[0:NCROSS, 0:NDISP].astype(np.float64)
    image = 100 * y + x
    centre = np.array([4.3, 4.4, 4.6, 4.8, 5.0, 5.2])
    wave = 3.0 - 0.01 * np.arange(NDISP)
    return image, centre, wave


def _rectify(image: np.ndarray, centre: np.ndarray, wave: np.ndarray, *, edges: np.ndarray | None = None,
             dq: np.ndarray | None = None, half_extent: int = 2, var: np.ndarray | None = None) -> Rectified:
    ones = np.ones_like(image) if var is None else var
    return rectify_trace(image, var_poisson=ones, var_rnoise=ones, dq=dq, dispaxis=1, centre=centre,
                         wavelength=wave, lit=np.ones(NDISP, bool),
                         edges=grid_edges(wave) if edges is None else edges, half_extent=half_extent)


def test_on_its_own_grid_a_trace_is_copied_pixel_for_pixel() -> None:
    image, centre, wave = _image()
    out = _rectify(image, centre, wave)
    assert out.sci.shape == (5, NDISP)
    # wavelength increases along the output: input column 5 comes first
    rows = np.rint(centre).astype(int)
    for k, j in enumerate(range(NDISP - 1, -1, -1)):
        np.testing.assert_array_equal(out.sci[:, k], image[rows[j] - 2:rows[j] + 3, j])
    np.testing.assert_allclose(out.centre, (2 + centre - rows)[::-1])
    np.testing.assert_array_equal(out.var_rnoise, 1.0)  # no interpolation: no smoothing of the noise
    assert not out.dq.any()


def test_dispersion_along_y_gives_the_same_rectification() -> None:
    image, centre, wave = _image()
    ones = np.ones_like(image)
    along_x = _rectify(image, centre, wave)
    along_y = rectify_trace(image.T, var_poisson=ones.T, var_rnoise=ones.T, dispaxis=2, centre=centre,
                            wavelength=wave, lit=np.ones(NDISP, bool), edges=grid_edges(wave), half_extent=2)
    np.testing.assert_array_equal(along_x.sci, along_y.sci)


def test_rows_off_the_image_and_flagged_pixels_are_not_used() -> None:
    image, centre, wave = _image()
    dq = np.zeros(image.shape, np.uint32)
    dq[4, 0] = Pixel.DO_NOT_USE
    out = _rectify(image, centre, wave, dq=dq, half_extent=5)
    last = out.sci[:, -1]  # input column 0 (row 4 is the trace row there)
    assert np.isnan(last[5]) and out.dq[5, -1] & Pixel.DO_NOT_USE
    assert np.isnan(last[0]) and out.dq[0, -1] & Pixel.DO_NOT_USE  # row -1 is off the image
    assert np.isfinite(last[1:5]).all()


def test_merged_bins_are_overlap_weighted_means_with_their_variance() -> None:
    image, centre, wave = _image()
    wave = np.array([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])
    centre = np.full(NDISP, 4.0)
    edges = np.array([0.95, 1.15, 1.35, 1.55])  # pairs of input bins
    var = np.tile(np.array([1.0, 3.0, 1.0, 3.0, 1.0, 3.0]), (NCROSS, 1))
    out = _rectify(image, centre, wave, edges=edges, var=var)
    np.testing.assert_allclose(out.sci[2], 0.5 * (image[4, 0::2] + image[4, 1::2]))
    np.testing.assert_allclose(out.var_rnoise[2], (1.0 + 3.0) / 4)


@settings(max_examples=40, deadline=None)
@given(keep=st.lists(st.booleans(), min_size=NDISP - 1, max_size=NDISP - 1), level=st.floats(-5, 50))
def test_rebinning_conserves_the_integral(keep: list[bool], level: float) -> None:
    """Onto any grid whose edges are some of the input's, Σ y Δλ is unchanged, row by row."""
    image, centre, wave = _image()
    image = image + level
    inner = grid_edges(wave)[1:-1][np.array(keep)]
    edges = np.concatenate([[grid_edges(wave)[0]], inner, [grid_edges(wave)[-1]]])
    out = _rectify(image, centre, wave, edges=edges)
    own = _rectify(image, centre, wave)
    integral = (out.sci * np.diff(edges)).sum(axis=1)
    np.testing.assert_allclose(integral, (own.sci * np.diff(grid_edges(wave))).sum(axis=1), rtol=1e-12, atol=1e-9)


def test_read_only_inputs_are_accepted_and_not_modified() -> None:
    image, centre, wave = _image()
    before = image.copy()
    for array in (image, centre, wave):
        array.setflags(write=False)
    _rectify(image, centre, wave)
    np.testing.assert_array_equal(image, before)


def test_bad_arguments_are_value_errors() -> None:
    image, centre, wave = _image()
    with pytest.raises(ValueError, match="one value per dispersion pixel"):
        _rectify(image, centre[:-1], wave)
    with pytest.raises(ValueError, match="distinct"):
        grid_edges([1.0, 1.0])
    with pytest.raises(ValueError, match="DISPAXIS"):
        rectify_trace(image, var_poisson=image, var_rnoise=image, dispaxis=3, centre=centre, wavelength=wave,
                      lit=np.ones(NDISP, bool), edges=grid_edges(wave), half_extent=1)


def test_the_common_grid_is_the_first_sampling_extended_by_the_others() -> None:
    first = np.array([2.0, 2.1, 2.2, 2.3])
    other = np.array([2.15, 2.25, 2.35, 2.45, 2.55])  # overlaps, then reaches beyond (another detector)
    np.testing.assert_allclose(common_grid([first, other]), [2.0, 2.1, 2.2, 2.3, 2.45, 2.55])
    np.testing.assert_allclose(common_grid([first[::-1]]), first)
    with pytest.raises(ValueError, match="no wavelengths"):
        common_grid([])


def test_nodded_traces_combine_to_the_flux_of_either() -> None:
    """The same spectrum nodded along the slit (traces 8.6 px apart, fractions .3 and .9): rectified, each row
    set is centred on its trace, and a boxcar about the mean centre of the pair recovers the flux exactly."""
    ncross, ndisp, sigma = 40, 50, 1.2
    flux = 100.0 * (1.5 + np.sin(np.arange(ndisp) / 7.0))
    wave = 1.0 + 0.01 * np.arange(ndisp)
    members = []
    for c0 in (12.3, 20.9):
        centre = c0 + 0.01 * np.arange(ndisp)
        edges = np.arange(ncross + 1)[:, None] - 0.5
        image = np.diff(0.5 * (1 + erf((edges - centre[None, :]) / (sigma * np.sqrt(2)))), axis=0) * flux
        members.append(_rectify_like(image, centre, wave))
    combined = combine_rectified(members).rectified
    out = extract_boxcar(combined.sci, var_poisson=combined.var_poisson, var_rnoise=combined.var_rnoise,
                         dispaxis=1, centre=combined.centre, aperture=BoxcarAperture(6 * sigma))
    np.testing.assert_allclose(out.flux, flux, rtol=1e-6)


def _rectify_like(image: np.ndarray, centre: np.ndarray, wave: np.ndarray) -> Rectified:
    ones = np.ones_like(image)
    return rectify_trace(image, var_poisson=ones, var_rnoise=ones, dispaxis=1, centre=centre, wavelength=wave,
                         lit=np.ones(wave.size, bool), edges=grid_edges(wave), half_extent=9)
