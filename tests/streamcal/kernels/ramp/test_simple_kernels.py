"""group_scale, dq_init, superbias, linearity, dark_current, gain_scale, guider_cds and the MIRI flags."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcal.dq import Pixel
from streamcal.kernels.ramp.dark_current import average_dark, subtract_dark
from streamcal.kernels.ramp.dq_init import initialize_dq
from streamcal.kernels.ramp.gain_scale import scale_gain
from streamcal.kernels.ramp.group_scale import scale_groups
from streamcal.kernels.ramp.guider_cds import guider_cds, guider_mode
from streamcal.kernels.ramp.linearity import correct_linearity
from streamcal.kernels.ramp.miri_flags import flag_first_frame, flag_last_frame, flag_rscd
from streamcal.kernels.ramp.superbias import subtract_superbias

from .ramps import ramps, readonly


def test_group_scale():
    data = np.ones((1, 2, 3, 3), np.float32)
    assert not scale_groups(data, frmdivsr=None, nframes=4).applied
    out = scale_groups(data, frmdivsr=8, nframes=5)
    assert out.applied and out.factor == 1.6 and np.allclose(out.data, 1.6)
    assert data[0, 0, 0, 0] == 1


def test_dq_init_marks_do_not_use_in_every_group():
    mask = np.zeros((4, 4), np.uint32)
    mask[1, 2] = Pixel.DO_NOT_USE | Pixel.DEAD
    mask[0, 0] = Pixel.REFERENCE_PIXEL
    out = initialize_dq(np.zeros((4, 4), np.uint32), np.zeros((2, 3, 4, 4), np.uint8), mask=mask)
    assert out.pixeldq[1, 2] == Pixel.DO_NOT_USE | Pixel.DEAD and out.pixeldq[0, 0] == Pixel.REFERENCE_PIXEL
    assert (out.groupdq[:, :, 1, 2] == Pixel.DO_NOT_USE).all() and out.groupdq.sum() == 6
    assert out.n_do_not_use == 1
    with pytest.raises(ValueError, match="mask shape"):
        initialize_dq(np.zeros((4, 4), np.uint32), np.zeros((2, 3, 4, 4), np.uint8), mask=np.zeros((3, 4)))


def test_superbias_treats_nan_as_zero():
    bias = np.full((2, 2), 100, np.float32)
    bias[0, 0] = np.nan
    bias_dq = np.array([[0, 4], [0, 0]], np.uint32)
    out = subtract_superbias(np.full((1, 2, 2, 2), 150, np.float32), np.zeros((2, 2), np.uint32), bias=bias,
                             bias_dq=bias_dq)
    assert out.data[0, 0, 0, 0] == 150 and out.data[0, 1, 1, 1] == 50
    assert out.pixeldq[0, 1] == 4


@given(ramp=ramps(), ncoeffs=st.integers(2, 5))
def test_identity_linearity_is_a_no_op(ramp, ncoeffs):
    coeffs = np.zeros((ncoeffs, *ramp.data.shape[2:]), np.float32)
    coeffs[1] = 1
    data, gdq, pdq, c = readonly(ramp.data, ramp.groupdq, ramp.pixeldq, coeffs)
    out = correct_linearity(data, gdq, pdq, coeffs=c)
    np.testing.assert_array_equal(out.data, ramp.data)
    assert out.n_no_correction == 0 and out.data.dtype == np.float32


def test_linearity_polynomial_skips_saturated_groups_and_bad_coefficients():
    data = np.full((1, 2, 2, 2), 1000, np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 1, 0, 0] = Pixel.SATURATED
    coeffs = np.zeros((3, 2, 2), np.float32)
    coeffs[1], coeffs[2] = 1, 1e-6
    coeffs[:, 1, 1] = [0, 0, 1]  # linear term 0: identity + NO_LIN_CORR
    out = correct_linearity(data, gdq, np.zeros((2, 2), np.uint32), coeffs=coeffs)
    assert out.data[0, 0, 0, 0] == pytest.approx(1001)
    assert out.data[0, 1, 0, 0] == 1000  # saturated: untouched
    assert out.data[0, 0, 1, 1] == 1000 and out.pixeldq[1, 1] == Pixel.NO_LIN_CORR


def test_dark_averaging_follows_nframes_and_groupgap():
    frames = np.arange(20, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    avg = average_dark(frames, ngroups=3, nframes=2, groupgap=1)  # frames (0,1), (3,4), (6,7)
    np.testing.assert_allclose(avg[:, 0, 0], [0.5, 3.5, 6.5])
    long = average_dark(frames[:4], ngroups=8, nframes=1, groupgap=0)  # extended linearly
    np.testing.assert_allclose(long[:, 0, 0], np.arange(8))


def test_dark_subtraction_nir_and_miri():
    data = np.full((2, 3, 2, 2), 10, np.float32)
    dark = np.stack([np.full((2, 2), g, np.float32) for g in range(3)])
    out = subtract_dark(data, np.zeros((2, 2), np.uint32), dark=dark, dark_dq=np.full((2, 2), 8, np.uint32))
    np.testing.assert_allclose(out.data[1, :, 0, 0], [10, 9, 8])
    assert out.applied and (out.pixeldq == 8).all()
    miri = np.stack([dark, dark * 2])  # (2 ints, 3 frames, ny, nx)
    three = subtract_dark(np.full((3, 3, 2, 2), 10, np.float32), np.zeros((2, 2), np.uint32), dark=miri)
    np.testing.assert_allclose(three.data[:, 2, 0, 0], [8, 6, 6])  # int 3 reuses the last dark int
    skipped = subtract_dark(data, np.zeros((2, 2), np.uint32), dark=dark, dark_nframes=4, nframes=1)
    assert not skipped.applied and skipped.data is not None and (skipped.data == 10).all()


def test_gain_scale():
    out = scale_gain(np.ones(3), np.ones(3), np.ones(3), np.ones(3), gainfact=2.0)
    assert out.sci[0] == 2 and out.err[0] == 2 and out.var_poisson[0] == 4 and out.var_rnoise[0] == 4


def test_guider_cds_modes():
    assert guider_mode("FGS_ID-STACK") == "id" and guider_mode("FGS_FINEGUIDE") == "fineguide"
    assert guider_mode("FGS_TRACK") == "cds"
    data = np.zeros((2, 2, 3, 3), np.float32)
    data[0, 1], data[1, 1] = 10, 6
    ident = guider_cds(data, mode="id", group_time=2.0, gain=np.ones((3, 3)), readnoise=np.ones((3, 3)))
    assert ident.rate.shape == (1, 3, 3) and ident.rate[0, 0, 0] == 3
    track = guider_cds(data, mode="cds", group_time=2.0, gain=np.full((3, 3), 2.0), readnoise=np.ones((3, 3)))
    assert track.rate.shape == (2, 3, 3) and track.rate[0, 0, 0] == 5
    assert track.err[0, 0, 0] == pytest.approx(np.sqrt(2 * 0.25 + 5 / 4))
    fine = np.arange(8, dtype=np.float32)[None, :, None, None] * np.ones((1, 8, 2, 2), np.float32)
    assert guider_cds(fine, mode="fineguide", group_time=1.0, gain=1.0, readnoise=0.0).rate[0, 0, 0] == 4
    with pytest.raises(ValueError, match="8 groups"):
        guider_cds(data, mode="fineguide", group_time=1.0, gain=1.0, readnoise=1.0)


def test_miri_group_flags():
    gdq = np.zeros((2, 5, 2, 2), np.uint8)
    assert (flag_last_frame(gdq).groupdq[:, -1] == Pixel.DO_NOT_USE).all()
    assert (flag_first_frame(gdq).groupdq[:, 0] == Pixel.DO_NOT_USE).all()
    rscd = flag_rscd(gdq, int1_skip=0, int2_skip=1).groupdq
    assert not rscd[0].any() and (rscd[1, 0] == Pixel.DO_NOT_USE).all() and not rscd[1, 1:].any()
    assert not flag_last_frame(np.zeros((1, 2, 1, 1), np.uint8)).applied
    assert not gdq.any()
