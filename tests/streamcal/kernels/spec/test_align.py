"""shift_rectified: sub-pixel alignment of a rectified trace (streamcal.kernels.spec.align, issue 11)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import erf

from streamcal.dq import Pixel
from streamcal.kernels.spec.align import shift_rectified
from streamcal.kernels.spec.rectify import Rectified


def _profile(centre: float, n: int = 33, sigma: float = 1.0) -> np.ndarray:
    """A pixel-integrated Gaussian of unit sum centred on row ``centre``."""
    r = np.arange(n)
    return 0.5 * (erf((r + 0.5 - centre) / (np.sqrt(2) * sigma)) - erf((r - 0.5 - centre) / (np.sqrt(2) * sigma)))


def _rect(sci: np.ndarray, centre: float, dq: np.ndarray | None = None) -> Rectified:
    ones = np.full_like(sci, 0.01)
    out = Rectified(sci=sci, var_poisson=ones, var_rnoise=ones.copy(), var_flat=np.zeros_like(sci),
                    dq=np.zeros(sci.shape, np.uint32) if dq is None else dq, centre=np.full(sci.shape[1], centre))
    for a in out[:5]:
        a.setflags(write=False)  # read-only inputs are accepted (STYLE)
    return out


def test_a_profile_moves_onto_the_target_phase_keeping_its_sum() -> None:
    sci = np.repeat(_profile(16.3)[:, None], 4, axis=1)
    out = shift_rectified(_rect(sci, 16.3), np.full(4, 16.0))
    inner = slice(2, -2)  # the frame's edge rows lose taps off the frame
    np.testing.assert_allclose(out.sci[inner, 0], _profile(16.0)[inner], atol=1.5e-2)  # cubic, σ = 1 px
    np.testing.assert_allclose(np.nansum(out.sci, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out.centre, 16.0)
    np.testing.assert_allclose(np.nansum(out.var_rnoise, axis=0)[0], 0.01 * 33, rtol=0.05)  # sums' variance kept


def test_a_dead_pixel_spreads_only_to_its_neighbours_and_stays_flagged() -> None:
    sci = np.repeat(_profile(16.3)[:, None], 2, axis=1)
    dq = np.zeros(sci.shape, np.uint32)
    dq[16, 0] = Pixel.DO_NOT_USE
    out = shift_rectified(_rect(sci, 16.3, dq), np.full(2, 16.0))
    bad = np.flatnonzero(out.dq[2:-2, 0] & Pixel.DO_NOT_USE) + 2
    assert 1 <= bad.size <= 3 and np.all(np.abs(bad - 16) <= 1)
    assert np.all(np.isnan(out.sci[bad, 0])) and not np.any(out.dq[2:-2, 1] & Pixel.DO_NOT_USE)


@given(shift=st.floats(-2.0, 2.0))
def test_any_shift_conserves_the_sum_and_only_adds_flags(shift: float) -> None:
    sci = np.repeat(_profile(16.0)[:, None], 3, axis=1)
    out = shift_rectified(_rect(sci, 16.0), np.full(3, 16.0 + shift))
    assert np.nansum(out.sci[:, 0]) == pytest.approx(1.0, abs=1e-9)
    assert out.sci.shape == sci.shape and out.dq.dtype == np.uint32
    assert np.all(np.nan_to_num(out.var_poisson) >= 0)
