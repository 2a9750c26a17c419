"""Temporal outliers and per-integration aperture photometry (issue 12), on hand-built cubes."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.dq import Pixel
from streamcal.kernels.tso import flag_temporal_outliers, tso_aperture_photometry

SHAPE = (30, 20, 20)


def _cube(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sci = rng.normal(100.0, 1.0, SHAPE).astype(np.float32)
    return sci, np.ones(SHAPE, np.float32), np.zeros(SHAPE, np.uint32)


def test_a_hit_in_one_integration_is_flagged_and_a_transit_is_not() -> None:
    sci, err, dq = _cube(np.random.default_rng(1))
    sci[10:20] *= np.float32(0.9)  # a 10 % dip over ten integrations: 10 σ, but the rolling median follows it
    sci[4, 7, 9] += 50.0
    dq[6, 3, 3] = Pixel.DO_NOT_USE
    sci[6, 3, 3] = 1e6
    sci.setflags(write=False)
    found = flag_temporal_outliers(sci, err, dq, snr=5.0, window=5)
    assert found.outliers[4, 7, 9] and not found.outliers[6, 3, 3]  # flagged pixels take no part
    assert found.n_outliers == int(found.outliers.sum()) <= 3
    assert found.median[4, 7, 9] == pytest.approx(100.0, abs=2.0)


def test_shapes_and_thresholds_are_checked() -> None:
    sci, err, dq = _cube(np.random.default_rng(2))
    with pytest.raises(ValueError, match="one \\(nints, ny, nx\\) shape"):
        flag_temporal_outliers(sci[0], err[0], dq[0])
    with pytest.raises(ValueError, match="window >= 3"):
        flag_temporal_outliers(sci, err, dq, window=2)


def test_aperture_photometry_of_a_point_source_on_a_flat_sky() -> None:
    """All of a source's light in one pixel at (9, 11), sky 2 per pixel: net = the source, exactly; the
    centroid lands on it from a start 2 px off."""
    sci = np.full((3, 24, 24), 2.0, np.float32)
    sci[:, 11, 9] += np.array([1000.0, 990.0, 1000.0], np.float32)
    var = np.ones_like(sci)
    phot = tso_aperture_photometry(sci, var, x=10.5, y=12.0, radius=3.0, radius_inner=4.0, radius_outer=6.0)
    assert (phot.x, phot.y) == pytest.approx((9.0, 11.0), abs=1e-6)
    np.testing.assert_allclose(phot.net_aperture_sum, [1000.0, 990.0, 1000.0], rtol=1e-6)
    np.testing.assert_allclose(phot.annulus_mean, 2.0, rtol=1e-6)
    yy, xx = np.mgrid[:24, :24]
    whole = np.count_nonzero(np.hypot(xx - 9, yy - 11) <= 3.0 - np.sqrt(0.5))  # pixels wholly in the aperture
    assert np.all((np.sqrt(whole) < phot.aperture_sum_err) & (phot.aperture_sum_err < np.sqrt(np.pi * 9.0)))
    np.testing.assert_allclose(phot.net_aperture_sum_err, np.hypot(phot.aperture_sum_err, phot.aperture_bkg_err))


def test_a_nan_in_the_annulus_leaves_the_background_mean_unbiased() -> None:
    sci = np.full((2, 24, 24), 3.0, np.float32)
    sci[1, 12, 17] = np.nan  # 5 px right of the centre: in the annulus
    phot = tso_aperture_photometry(sci, np.ones_like(sci), x=12.0, y=12.0, centroid=False)
    np.testing.assert_allclose(phot.annulus_mean, 3.0, rtol=1e-6)
    np.testing.assert_allclose(phot.net_aperture_sum, 0.0, atol=1e-4)


def test_bad_radii_or_positions_are_refused() -> None:
    sci = np.ones((2, 10, 10), np.float32)
    with pytest.raises(ValueError, match="radius_inner < radius_outer"):
        tso_aperture_photometry(sci, sci, x=5, y=5, radius=3, radius_inner=5, radius_outer=4)
    with pytest.raises(ValueError, match="off the"):
        tso_aperture_photometry(sci, sci, x=50, y=5)
