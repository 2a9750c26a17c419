from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from streamcal.dq import Pixel
from streamcal.kernels.ramp.saturation import flag_saturation

from .ramps import full_2d, ramps, readonly


def test_hand_built_pixel_saturates_and_grows():
    """stcal-style: 1×5×20×20, one pixel rising through the threshold at group 3."""
    data = np.full((1, 5, 20, 20), 1000, np.float32)
    data[0, :, 10, 10] = [1000, 20000, 40000, 60000, 61000]
    out = flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((20, 20), np.uint32),
                          threshold=np.full((20, 20), 50000, np.float32), threshold_dq=np.zeros((20, 20), np.uint32))
    sat = (out.groupdq & Pixel.SATURATED) != 0
    assert not sat[0, :3].any()
    assert sat[0, 3:, 9:12, 9:12].all()  # the pixel and its 3×3 box
    assert sat[0, 3:].sum() == 2 * 9
    assert out.n_saturated == 9


def test_nan_threshold_and_no_sat_check():
    data = np.full((1, 3, 4, 4), 65535, np.float32)
    thresh = np.full((4, 4), 100, np.float32)
    thresh[0, 0] = np.nan
    ref_dq = np.zeros((4, 4), np.uint32)
    ref_dq[3, 3] = Pixel.NO_SAT_CHECK
    out = flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((4, 4), np.uint32), threshold=thresh,
                          threshold_dq=ref_dq, n_grow=0)
    assert out.pixeldq[0, 0] & Pixel.NO_SAT_CHECK and out.pixeldq[3, 3] & Pixel.NO_SAT_CHECK
    assert not (out.groupdq[0, :, 0, 0] & Pixel.SATURATED).any()
    assert (out.groupdq[0, :, 1, 1] & Pixel.SATURATED).all()


def test_ad_floor_is_per_group_and_not_grown():
    data = np.full((1, 3, 5, 5), 500, np.float32)
    data[0, 1, 2, 2] = 0
    out = flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((5, 5), np.uint32),
                          threshold=np.full((5, 5), 6e4, np.float32), threshold_dq=np.zeros((5, 5), np.uint32))
    assert out.groupdq[0, 1, 2, 2] == Pixel.AD_FLOOR | Pixel.DO_NOT_USE
    assert out.groupdq.sum() == out.groupdq[0, 1, 2, 2]


def test_frame_averaged_group_before_saturation_is_do_not_use():
    data = np.zeros((1, 3, 3, 3), np.float32) + 100
    # nframes=4: group 1 averages frames 5..8 (dilution 6.5/8); it is below threshold but above thresh*dilution
    data[0, :, 1, 1] = [20000, 45000, 60000]
    out = flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((3, 3), np.uint32), nframes=4, n_grow=0,
                          threshold=np.full((3, 3), 50000, np.float32), threshold_dq=np.zeros((3, 3), np.uint32))
    assert out.groupdq[0, 2, 1, 1] & Pixel.SATURATED
    assert out.groupdq[0, 1, 1, 1] & Pixel.DO_NOT_USE
    assert not out.groupdq[0, 0, 1, 1]


@given(ramp=ramps(), threshold=st.floats(1e3, 6.5e4, width=32), n_grow=st.integers(0, 2))
def test_saturation_is_sticky_and_only_adds_flags(ramp, threshold, n_grow):
    data, gdq, pdq = readonly(ramp.data, ramp.groupdq, ramp.pixeldq)
    out = flag_saturation(data, gdq, pdq, threshold=full_2d(ramp, threshold),
                          threshold_dq=full_2d(ramp, 0, np.uint32), n_grow=n_grow)
    sat = (out.groupdq & Pixel.SATURATED) != 0
    assert np.all(np.diff(sat.astype(np.int8), axis=1) >= 0)  # never un-saturates
    assert np.all((out.groupdq & ramp.groupdq) == ramp.groupdq)  # flags only added
    assert np.all((out.pixeldq & ramp.pixeldq) == ramp.pixeldq)
    assert out.groupdq.dtype == np.uint8 and out.groupdq.shape == ramp.data.shape
    assert out.pixeldq.dtype == np.uint32
    np.testing.assert_array_equal(data, ramp.data)  # inputs untouched (read-only anyway)
