"""combine_1d on one grid (issue 11): exposure-time weighted means, jwst's error formula, flags."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.dq import Pixel
from streamcal.kernels.spec.combine1d import combine_spectra


def test_weighted_mean_error_and_counts() -> None:
    flux = [np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, np.nan])]
    error = [np.array([0.1, 0.1, 0.1]), np.array([0.2, 0.2, 0.2])]
    dq = [np.zeros(3, np.uint32), np.array([0, Pixel.DO_NOT_USE, 0], np.uint32)]
    out = combine_spectra(flux, error, dq, weights=[100.0, 300.0])
    np.testing.assert_allclose(out.flux, [2.5, 2.0, 3.0])
    np.testing.assert_allclose(out.error[0], np.sqrt((100 * 0.1) ** 2 + (300 * 0.2) ** 2) / 400)
    np.testing.assert_allclose(out.n_input, [2, 1, 1])
    np.testing.assert_allclose(out.weight, [400, 100, 100])
    assert np.isnan(out.surf_bright).all() and not out.dq.any()


def test_nothing_usable_is_do_not_use_and_bad_weights_are_refused() -> None:
    out = combine_spectra([np.array([np.nan])], [np.array([1.0])], [np.zeros(1, np.uint32)], weights=[1.0])
    assert np.isnan(out.flux[0]) and out.dq[0] & Pixel.DO_NOT_USE
    with pytest.raises(ValueError, match="positive"):
        combine_spectra([np.ones(2)], [np.ones(2)], [np.zeros(2, np.uint32)], weights=[0.0])
