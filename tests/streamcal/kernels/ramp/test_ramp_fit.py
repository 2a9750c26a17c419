"""Ramp fitting: hand-built examples (stcal style) and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamcal.dq import Pixel
from streamcal.kernels.ramp import ramp_fit
from streamcal.kernels.ramp.ramp_fit import RampFitResult, fit_ramps
from tests.streamcal.kernels.ramp.strategies import Ramp, ramps

TGROUP = 10.737
DNU, SAT, JUMP = Pixel.DO_NOT_USE, Pixel.SATURATED, Pixel.JUMP_DET


def test_public_names():
    assert set(ramp_fit.__all__) == {"RampFitResult", "fit_ramps"}


def setup_ramp(shape=(1, 5, 20, 20), rate=2.0, pedestal=100.0):
    """A noiseless ramp: group k (0-based) holds pedestal + rate·(k+1)·TGROUP DN."""
    times = TGROUP * np.arange(1, shape[1] + 1, dtype=np.float64)[None, :, None, None]
    data = np.broadcast_to(pedestal + rate * times, shape).astype(np.float32)
    gdq = np.zeros(shape, np.uint8)
    pdq = np.zeros(shape[2:], np.uint32)
    rn = np.full(shape[2:], 10.0, np.float32)
    gain = np.full(shape[2:], 2.0, np.float32)
    return data, gdq, pdq, rn, gain


def fit(data, gdq, pdq, rn, gain, **kw) -> RampFitResult:
    return fit_ramps(data, gdq, pdq, readnoise=rn, gain=gain, frame_time=TGROUP, group_time=TGROUP, **kw)


def expected_variances(n, rate, rn_cds=10.0, gain=2.0, nframes=1):
    """stcal's single-segment variances (DN/s)²: Poisson and read noise."""
    r = rn_cds * gain / np.sqrt(2 * nframes)
    var_p = rate / (TGROUP * gain * max(n - 1, 1))
    var_r = 12 * r**2 / (TGROUP**2 * gain**2 * (n**3 - n if n >= 3 else 6))
    return var_p, var_r


def test_noiseless_ramp_fits_its_slope_with_stcal_variances():
    out = fit(*setup_ramp())
    np.testing.assert_allclose(out.rate, 2.0, rtol=1e-6)
    var_p, var_r = expected_variances(5, 2.0)
    np.testing.assert_allclose(out.var_poisson, var_p, rtol=1e-5)
    np.testing.assert_allclose(out.var_rnoise, var_r, rtol=1e-5)
    np.testing.assert_allclose(out.err, np.sqrt(var_p + var_r), rtol=1e-5)
    np.testing.assert_array_equal(out.rateints[0], out.rate)
    assert not out.dq.any() and not out.dq_ints.any()


def test_jump_starts_a_new_segment_and_the_rate_is_unchanged():
    data, gdq, pdq, rn, gain = setup_ramp(shape=(1, 8, 20, 20))
    data[0, 4:, 10, 10] += 500.0
    gdq[0, 4, 10, 10] = JUMP
    out = fit(data, gdq, pdq, rn, gain)
    np.testing.assert_allclose(out.rate[10, 10], 2.0, rtol=1e-5)
    assert out.dq[10, 10] == JUMP and out.dq_ints[0, 10, 10] == JUMP
    # Two 4-group segments: the read-noise variances add inversely.
    _, var_r4 = expected_variances(4, 2.0)
    np.testing.assert_allclose(out.var_rnoise[10, 10], var_r4 / 2, rtol=1e-5)
    assert out.n_general == 1


def test_saturation_ends_the_ramp():
    data, gdq, pdq, rn, gain = setup_ramp()
    data[0, 3:, 4, 4] = 65000.0
    gdq[0, 3:, 4, 4] = SAT
    out = fit(data, gdq, pdq, rn, gain)
    np.testing.assert_allclose(out.rate[4, 4], 2.0, rtol=1e-5)
    assert out.dq[4, 4] == SAT  # partial saturation is flagged but the rate is kept
    _, var_r = expected_variances(3, 2.0)
    np.testing.assert_allclose(out.var_rnoise[4, 4], var_r, rtol=1e-5)


def test_saturated_from_group_0_is_nan_and_do_not_use():
    data, gdq, pdq, rn, gain = setup_ramp()
    gdq[0, :, 1, 2] = SAT
    out = fit(data, gdq, pdq, rn, gain)
    assert np.isnan(out.rate[1, 2]) and np.isnan(out.rateints[0, 1, 2])
    assert out.dq[1, 2] == DNU | SAT and out.dq_ints[0, 1, 2] == DNU | SAT
    assert out.err[1, 2] == out.var_poisson[1, 2] == out.var_rnoise[1, 2] == 0


def test_one_group_segments_are_dropped_when_a_longer_one_exists():
    data, gdq, pdq, rn, gain = setup_ramp(shape=(1, 6, 20, 20))
    data[0, 0, 7, 7] = -1e4  # only a lone good group 0 sees this value
    gdq[0, 1, 7, 7] = DNU
    out = fit(data, gdq, pdq, rn, gain)
    np.testing.assert_allclose(out.rate[7, 7], 2.0, rtol=1e-5)


def test_single_group_uses_stcal_one_group_timing():
    data, gdq, pdq, rn, gain = setup_ramp(shape=(1, 1, 20, 20))
    out = fit(data, gdq, pdq, rn, gain)
    # stcal: group 0 over (NFRAMES + 1)·TFRAME/2 when only group 0 is good.
    np.testing.assert_allclose(out.rate, data[0, 0] / TGROUP, rtol=1e-6)


def test_single_group_with_a_saturated_integration_has_no_poisson_variance():
    """stcal averages group 0 over integrations including saturated ones (NaN), so its median rate is NaN and
    VAR_POISSON = 0 for the pixel; found by the adversarial parity test (seeds 29, 44, 85)."""
    data, gdq, pdq, rn, gain = setup_ramp(shape=(2, 1, 4, 4))
    gdq[1, 0, 2, 2] = SAT
    out = fit(data, gdq, pdq, rn, gain)
    assert out.var_poisson[2, 2] == 0 and out.var_poisson[1, 1] > 0
    np.testing.assert_allclose(out.rate[2, 2], data[0, 0, 2, 2] / TGROUP, rtol=1e-6)
    assert out.dq[2, 2] == SAT and out.dq_ints[1, 2, 2] == DNU | SAT


def test_suppressed_one_group_ramps_become_do_not_use():
    data, gdq, pdq, rn, gain = setup_ramp()
    gdq[0, 1:, 3, 3] = SAT
    out = fit(data, gdq, pdq, rn, gain, suppress_one_group=True)
    assert np.isnan(out.rate[3, 3]) and out.dq[3, 3] == DNU | SAT
    kept = fit(data, gdq, pdq, rn, gain)
    assert np.isfinite(kept.rate[3, 3]) and kept.dq[3, 3] == SAT


@pytest.mark.parametrize("bad", [0.0, np.nan, -2.0])
def test_bad_gain_is_flagged_not_fatal(bad):
    data, gdq, pdq, rn, gain = setup_ramp()
    gain[5, 6] = bad
    out = fit(data, gdq, pdq, rn, gain)
    assert out.dq[5, 6] == DNU | Pixel.NO_GAIN_VALUE and np.isnan(out.rate[5, 6])
    assert out.err[5, 6] == 0 and out.n_bad_gain == 1
    np.testing.assert_allclose(np.delete(out.rate.ravel(), 5 * 20 + 6), 2.0, rtol=1e-6)


def test_pixeldq_is_carried_and_do_not_use_pixels_are_nan():
    data, gdq, pdq, rn, gain = setup_ramp()
    pdq[0, 0], pdq[0, 1] = Pixel.HOT, Pixel.DO_NOT_USE | Pixel.DEAD
    out = fit(data, gdq, pdq, rn, gain)
    assert out.dq[0, 0] == Pixel.HOT and out.rate[0, 0] == pytest.approx(2.0, rel=1e-6)
    assert out.dq[0, 1] == pdq[0, 1] and np.isnan(out.rate[0, 1]) and out.err[0, 1] == 0


def test_integrations_combine_with_read_noise_weights():
    data, gdq, pdq, rn, gain = setup_ramp(shape=(2, 5, 4, 4))
    data = data.copy()
    data[1] = data[0] * 2 - 100.0  # rate 4 DN/s in integration 1
    gdq[1, 3:, 0, 0] = SAT  # integration 1 of pixel (0, 0) has 3 groups
    out = fit(data, gdq, pdq, rn, gain)
    np.testing.assert_allclose(out.rateints[:, 1, 1], [2.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(out.rate[1, 1], 3.0, rtol=1e-6)
    _, var_r5 = expected_variances(5, 1.0)
    _, var_r3 = expected_variances(3, 1.0)
    w5, w3 = 1 / var_r5, 1 / var_r3
    np.testing.assert_allclose(out.rate[0, 0], (2.0 * w5 + 4.0 * w3) / (w5 + w3), rtol=1e-5)


def test_inputs_read_only_and_unchanged():
    data, gdq, pdq, rn, gain = (np.array(a) for a in setup_ramp())
    gdq[0, 2, 3, 3] = JUMP
    arrays = [data, gdq, pdq, rn, gain]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)
    out = fit(data, gdq, pdq, rn, gain)
    assert out.rate.flags.writeable
    for a, c in zip(arrays, copies, strict=True):
        assert np.array_equal(a, c)


def test_shape_mismatch_is_a_value_error():
    data, gdq, pdq, rn, gain = setup_ramp()
    with pytest.raises(ValueError, match="pixeldq"):
        fit(data, gdq, pdq[:3], rn, gain)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramp=ramps(min_groups=2, max_groups=12, flagged=False), rate=st.floats(-50.0, 5000.0),
       pedestal=st.floats(-1000.0, 1000.0))
def test_noiseless_ramps_fit_their_true_slope(ramp: Ramp, rate: float, pedestal: float):
    ngroups = ramp.data.shape[1]
    times = TGROUP * np.arange(1, ngroups + 1)[None, :, None, None]
    data = np.broadcast_to(pedestal + rate * times, ramp.data.shape).astype(np.float32)
    out = fit(data, ramp.groupdq, ramp.pixeldq, ramp.readnoise, ramp.gain)
    tol = 2e-6 * (abs(pedestal) + abs(rate) * TGROUP * ngroups) / TGROUP + 1e-5
    np.testing.assert_allclose(out.rate, rate, atol=tol)
    np.testing.assert_allclose(out.rateints, rate, atol=tol)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramp=ramps(min_groups=1, max_groups=10))
def test_shapes_dtypes_and_no_mutation(ramp: Ramp):
    copies = [a.copy() for a in ramp]
    for a in ramp:
        a.setflags(write=False)
    out = fit(ramp.data, ramp.groupdq, ramp.pixeldq, ramp.readnoise, ramp.gain, suppress_one_group=True)
    nints, _, ny, nx = ramp.data.shape
    for name, ints in (("rate", "rateints"), ("err", "err_ints"), ("var_poisson", "var_poisson_ints"),
                       ("var_rnoise", "var_rnoise_ints")):
        assert getattr(out, name).shape == (ny, nx) and getattr(out, name).dtype == np.float32
        assert getattr(out, ints).shape == (nints, ny, nx) and getattr(out, ints).dtype == np.float32
    assert out.dq.dtype == out.dq_ints.dtype == np.uint32
    assert np.all((out.dq & ramp.pixeldq) == ramp.pixeldq)
    assert np.all(out.err[np.isnan(out.rate)] == 0)
    assert np.all(out.err >= 0) and np.all(out.var_rnoise >= 0) and np.all(out.var_poisson >= 0)
    for a, c in zip(ramp, copies, strict=True):
        assert np.array_equal(a, c)
