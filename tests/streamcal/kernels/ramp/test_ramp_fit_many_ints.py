"""Many-integration ramp fits: integrations are batched, which must change nothing.

``fit_ramps`` fits all integrations of a pixel block in one vectorised call (the clean path in batches of
integrations, the exact path on integration-major columns). These tests check a 40-integration fit against stcal on
the same arrays, against fits of its integrations one at a time, and against itself with tiny blocks (many
pixel chunks and integration batches).
"""

from __future__ import annotations

import numpy as np
import pytest

import streamcal.kernels.ramp.ramp_fit as ramp_fit
from streamcal.kernels.ramp.jump import detect_jumps
from streamcal.kernels.ramp.ramp_fit import RampFitResult, fit_ramps
from tests.streamcal.kernels.ramp.simulate import SimRamp, simulate_ramps
from tests.streamcal.kernels.ramp.stcal_ref import stcal_ramp_fit

SHAPE = (40, 6, 24, 40)


@pytest.fixture(scope="module")
def sim_gdq() -> tuple[SimRamp, np.ndarray]:
    sim = simulate_ramps(SHAPE, seed=7, cr_fraction=0.01)
    gdq = detect_jumps(sim.data, sim.groupdq, gain=sim.gain, readnoise=sim.readnoise).groupdq
    return sim, gdq


def _fit(sim: SimRamp, data: np.ndarray, gdq: np.ndarray) -> RampFitResult:
    return fit_ramps(data, gdq, sim.pixeldq, readnoise=sim.readnoise, gain=sim.gain,
                     frame_time=sim.group_time, group_time=sim.group_time)


def test_many_integrations_match_stcal(sim_gdq):
    sim, gdq = sim_gdq
    inputs = [a.copy() for a in (sim.data, gdq, sim.pixeldq, sim.readnoise, sim.gain)]
    ours = _fit(sim, sim.data, gdq)
    for before, after in zip(inputs, (sim.data, gdq, sim.pixeldq, sim.readnoise, sim.gain), strict=True):
        np.testing.assert_array_equal(before, after)
    assert ours.n_general > 0  # the exact path saw flagged integrations
    image, integ = stcal_ramp_fit(sim.data, gdq, sim.pixeldq, sim.gain, sim.readnoise,
                                  frame_time=sim.group_time, group_time=sim.group_time)
    np.testing.assert_array_equal(ours.dq, image["dq"])
    np.testing.assert_array_equal(ours.dq_ints, integ["dq"])
    for mine, key in ((ours.rate, "slope"), (ours.err, "err"), (ours.var_rnoise, "var_rnoise")):
        np.testing.assert_allclose(mine, image[key], rtol=2e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours.var_poisson, image["var_poisson"], rtol=5e-4, atol=1e-6, equal_nan=True)
    for mine, key in ((ours.rateints, "slope"), (ours.err_ints, "err"), (ours.var_rnoise_ints, "var_rnoise"),
                      (ours.var_poisson_ints, "var_poisson")):
        np.testing.assert_allclose(mine, integ[key], rtol=5e-4 if key == "var_poisson" else 2e-5, atol=1e-6,
                                   equal_nan=True)


def test_integrations_fitted_one_at_a_time_agree(sim_gdq):
    """Slopes, read-noise variances and DQ of an integration do not depend on the other integrations."""
    sim, gdq = sim_gdq
    ours = _fit(sim, sim.data, gdq)
    for i in (0, 17, SHAPE[0] - 1):
        alone = _fit(sim, sim.data[i:i + 1], gdq[i:i + 1])
        np.testing.assert_array_equal(ours.dq_ints[i], alone.dq_ints[0])
        np.testing.assert_allclose(ours.rateints[i], alone.rateints[0], rtol=1e-5, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(ours.var_rnoise_ints[i], alone.var_rnoise_ints[0], rtol=1e-5, atol=1e-9)


def test_batching_does_not_change_bits(sim_gdq, monkeypatch):
    """Tiny blocks (one row per block, 4-integration batches, 4-pixel exact chunks) give identical outputs."""
    sim, gdq = sim_gdq
    reference = _fit(sim, sim.data, gdq)
    monkeypatch.setattr(ramp_fit, "_BLOCK_ELEMENTS", 1000)
    small = _fit(sim, sim.data, gdq)
    for name, a, b in zip(RampFitResult._fields, reference, small, strict=True):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
        else:
            assert a == b, name
