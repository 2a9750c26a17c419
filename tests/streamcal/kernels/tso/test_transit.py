"""The transit model (issue 12): exact limits, the closed form at mid-transit, symmetry; and its fit recovers
injected parameters from noisy points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad

from streamcal.kernels.tso import fit_transit, occulted_area, transit_flux

T0 = 60400.5
T14 = 7200.0


def _closed_form_centre(depth: float, u1: float, u2: float) -> float:
    """1 − (light of the central disc of radius k) / (all light): the flux at b = 0, z = 0."""
    k = np.sqrt(depth)

    def ring(r: float) -> float:
        mu = np.sqrt(1.0 - r * r)
        return (1.0 - u1 * (1.0 - mu) - u2 * (1.0 - mu) ** 2) * 2.0 * np.pi * r

    return 1.0 - quad(ring, 0.0, k)[0] / (np.pi * (1.0 - u1 / 3.0 - u2 / 6.0))


@pytest.mark.parametrize(("depth", "u1", "u2"), [(0.0025, 0.4, 0.25), (0.01, 0.1, 0.25), (0.05, 0.6, 0.1),
                                                 (0.01, 0.0, 0.0)])
def test_mid_transit_matches_the_closed_form_to_1_ppm(depth: float, u1: float, u2: float) -> None:
    flux = transit_flux([T0], depth=depth, t0=T0, t14=T14, u1=u1, u2=u2)[0]
    assert flux == pytest.approx(_closed_form_centre(depth, u1, u2), abs=1e-6)


def test_a_uniform_disc_loses_exactly_the_depth_and_nothing_outside_contacts() -> None:
    half = T14 / 2 / 86400
    t = np.array([T0 - 2 * half, T0 - half * 1.0001, T0 - 0.3 * half, T0, T0 + 0.3 * half, T0 + half * 1.0001])
    flux = transit_flux(t, depth=0.01, t0=T0, t14=T14)
    np.testing.assert_array_equal(flux[[0, 1, 5]], 1.0)
    np.testing.assert_allclose(flux[2:5], 0.99, atol=1e-12)


def test_occulted_area_limits() -> None:
    k = 0.1
    np.testing.assert_allclose(occulted_area([0.5, 0.05, 1.0], k, [0.0, 0.0, 1.2]), [np.pi * k * k, np.pi * 0.05 ** 2,
                                                                                  0.0])
    n = 2000  # the planet centred on the limb: against a pixel count over the planet's bounding box
    x = (np.arange(n) + 0.5) / n * 2 * k - k
    xx, yy = np.meshgrid(x + 1.0, x)
    inside = ((xx - 1.0) ** 2 + yy ** 2 < k * k) & (xx ** 2 + yy ** 2 < 1.0)
    assert occulted_area(1.0, k, 1.0) == pytest.approx(inside.sum() * (2 * k / n) ** 2, rel=1e-4)


@given(depth=st.floats(1e-4, 0.05), u1=st.floats(0.0, 0.6), u2=st.floats(0.0, 0.3), b=st.floats(0.0, 0.9),
       dt=st.floats(-1.0, 1.0))
def test_the_curve_is_symmetric_bounded_and_deepest_at_mid_transit(depth: float, u1: float, u2: float, b: float,
                                                                   dt: float) -> None:
    t = T0 + dt * T14 / 86400
    both = transit_flux([t, 2 * T0 - t, T0], depth=depth, t0=T0, t14=T14, u1=u1, u2=u2, b=b)
    assert both[0] == pytest.approx(both[1], abs=1e-9)
    assert 1.0 - 2.5 * depth <= both[2] <= both[0] + 1e-12 <= 1.0 + 1e-12


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="depth < 1"):
        transit_flux([T0], depth=1.5, t0=T0, t14=T14)
    with pytest.raises(ValueError, match="impact parameter"):
        transit_flux([T0], depth=0.01, t0=T0, t14=T14, b=1.2)


def test_the_fit_recovers_depth_and_mid_time_within_their_errors() -> None:
    rng = np.random.default_rng(3)
    t = T0 + np.linspace(-1.5, 1.5, 300) * T14 / 86400
    truth = 5.0 * transit_flux(t, depth=0.012, t0=T0 + 20 / 86400, t14=T14, u1=0.2, u2=0.2)
    sigma = 5.0 * 1e-3
    fit = fit_transit(t, truth + rng.normal(0, sigma, t.size), np.full(t.size, sigma), t14=T14, u1=0.2, u2=0.2,
                      t0_guess=T0)
    assert abs(fit.depth - 0.012) < 3 * fit.depth_err and fit.depth_err < 3e-4
    assert abs(fit.t0 - (T0 + 20 / 86400)) < 3 * fit.t0_err
    assert fit.baseline == pytest.approx(5.0, rel=1e-3) and 0.8 < fit.chi2_reduced < 1.2
