"""Properties every stage-1 kernel keeps (STYLE.md): read-only inputs are accepted and never modified, shapes
and dtypes come back as documented, and DQ flags are only ever added."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from streamcal.kernels.ramp.dark_current import subtract_dark
from streamcal.kernels.ramp.dq_init import initialize_dq
from streamcal.kernels.ramp.gain_scale import scale_gain
from streamcal.kernels.ramp.group_scale import scale_groups
from streamcal.kernels.ramp.guider_cds import guider_cds
from streamcal.kernels.ramp.linearity import correct_linearity
from streamcal.kernels.ramp.miri_flags import flag_first_frame, flag_last_frame, flag_rscd
from streamcal.kernels.ramp.refpix import apply_refpix, refpix_correction, refpix_edges
from streamcal.kernels.ramp.superbias import subtract_superbias

from .ramps import ramps, readonly


def _plane(ramp, rng, dtype=np.float32, low=0.0, high=1.0):
    return rng.uniform(low, high, ramp.data.shape[2:]).astype(dtype)


@given(ramp=ramps(min_groups=2), seed=st.integers(0, 2**16))
def test_ramp_kernels_keep_shapes_dtypes_and_inputs(ramp, seed):
    rng = np.random.default_rng(seed)
    data, gdq, pdq = readonly(ramp.data, ramp.groupdq, ramp.pixeldq)
    mask = readonly(rng.choice(np.array([0, 1, 2048], np.uint32), ramp.data.shape[2:]))[0]
    bias, = readonly(_plane(ramp, rng, high=1e4))
    coeffs, = readonly(np.stack([_plane(ramp, rng), np.ones(ramp.data.shape[2:], np.float32),
                                 _plane(ramp, rng, high=1e-6)]))
    dark, = readonly(rng.uniform(0, 5, (ramp.data.shape[1] + 1, *ramp.data.shape[2:])).astype(np.float32))
    outs = [
        scale_groups(data, frmdivsr=4, nframes=3).data,
        subtract_superbias(data, pdq, bias=bias, bias_dq=mask).data,
        correct_linearity(data, gdq, pdq, coeffs=coeffs, lin_dq=mask).data,
        subtract_dark(data, pdq, dark=dark, dark_dq=mask).data,
    ]
    for out in outs:
        assert out.shape == ramp.data.shape and out.dtype == np.float32
    for new_gdq in (initialize_dq(pdq, gdq, mask=mask).groupdq, flag_first_frame(gdq).groupdq,
                    flag_last_frame(gdq).groupdq, flag_rscd(gdq, int1_skip=1, int2_skip=2).groupdq):
        assert new_gdq.dtype == np.uint8 and new_gdq.shape == ramp.data.shape
        assert np.all((new_gdq & ramp.groupdq) == ramp.groupdq)  # flags only added
    for new_pdq in (initialize_dq(pdq, gdq, mask=mask).pixeldq, subtract_superbias(data, pdq, bias=bias,
                                                                                    bias_dq=mask).pixeldq):
        assert new_pdq.dtype == np.uint32 and np.all((new_pdq & ramp.pixeldq) == ramp.pixeldq)
    np.testing.assert_array_equal(data, ramp.data)
    np.testing.assert_array_equal(gdq, ramp.groupdq)


@given(ramp=ramps(min_groups=2, max_side=12), fastaxis=st.sampled_from([-1, 1, 2, -2]))
def test_refpix_is_a_pure_function_of_the_edges(ramp, fastaxis):
    data, pdq = readonly(ramp.data, ramp.pixeldq)
    corr = refpix_correction(refpix_edges(data, pdq, fastaxis=fastaxis), fastaxis=fastaxis, noutputs=1)
    out = apply_refpix(data, corr, rows=slice(0, ramp.data.shape[2]))
    assert out.shape == ramp.data.shape and out.dtype == np.float32
    assert np.isfinite(corr.row_term).all() and np.isfinite(corr.col_term).all()
    np.testing.assert_array_equal(data, ramp.data)


@given(ramp=ramps(min_groups=2), mode=st.sampled_from(["id", "cds"]), t=st.floats(0.01, 100))
def test_guider_and_gain_scale_shapes(ramp, mode, t):
    data, = readonly(ramp.data)
    out = guider_cds(data, mode=mode, group_time=t, gain=2.0, readnoise=5.0)
    nout = 1 if mode == "id" else ramp.data.shape[0]
    assert out.rate.shape == (nout, *ramp.data.shape[2:]) and out.rate.dtype == np.float32
    assert not (out.err < 0).any()  # NaN (e.g. from inf data) is allowed, negative errors are not
    scaled = scale_gain(out.rate, out.err, out.err, out.err, gainfact=1.0)
    np.testing.assert_array_equal(scaled.sci, out.rate)
