"""Pixel-by-pixel combination of rectified traces (issue 11): weighted means, exact variances, flags."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.dq import Pixel
from streamcal.kernels.spec.combine2d import combine_rectified
from streamcal.kernels.spec.rectify import Rectified

SHAPE = (5, 20)


def _member(sci: np.ndarray, var: float = 4.0, dq: np.ndarray | None = None) -> Rectified:
    full = np.full(SHAPE, var)
    return Rectified(sci=sci, var_poisson=full, var_rnoise=full, var_flat=np.zeros(SHAPE),
                     dq=np.zeros(SHAPE, np.uint32) if dq is None else dq, centre=np.full(SHAPE[1], 2.2))


def test_equal_members_average_and_their_variance_drops_by_n() -> None:
    members = [_member(np.full(SHAPE, float(v))) for v in (1.0, 2.0, 6.0)]
    out = combine_rectified(members)
    np.testing.assert_allclose(out.rectified.sci, 3.0)
    np.testing.assert_allclose(out.rectified.var_rnoise, 4.0 / 3)
    np.testing.assert_array_equal(out.n_input, 3)
    np.testing.assert_allclose(out.weight, 3 / 4.0)


def test_flagged_pixels_are_left_to_the_other_members() -> None:
    dq = np.zeros(SHAPE, np.uint32)
    dq[1, 3] = Pixel.DO_NOT_USE | Pixel.OUTLIER
    members = [_member(np.full(SHAPE, 1.0)), _member(np.full(SHAPE, 100.0), dq=dq), _member(np.full(SHAPE, 3.0))]
    out = combine_rectified(members)
    assert out.rectified.sci[1, 3] == 2.0 and out.n_input[1, 3] == 2
    assert not out.rectified.dq[1, 3] & Pixel.DO_NOT_USE  # someone contributed
    alone = combine_rectified([members[1]])
    assert np.isnan(alone.rectified.sci[1, 3]) and alone.rectified.dq[1, 3] & Pixel.DO_NOT_USE


def test_ivm_weights_follow_the_read_noise_and_pulls_have_unit_width() -> None:
    rng = np.random.default_rng(3)
    sigmas = np.array([1.0, 2.0, 0.5])
    pulls = []
    for _ in range(200):
        members = [_member(10.0 + rng.normal(0, s, SHAPE), var=s ** 2 / 2) for s in sigmas]
        out = combine_rectified(members)
        pulls.append((out.rectified.sci - 10.0) / np.sqrt(out.rectified.variance))
    assert np.std(pulls) == pytest.approx(1.0, abs=0.03)


def test_exptime_weighting_and_bad_arguments() -> None:
    members = [_member(np.full(SHAPE, 1.0)), _member(np.full(SHAPE, 4.0))]
    out = combine_rectified(members, weight_type="exptime", exptimes=[300.0, 100.0])
    np.testing.assert_allclose(out.rectified.sci, 1.75)
    with pytest.raises(ValueError, match="exposure time"):
        combine_rectified(members, weight_type="exptime")
    with pytest.raises(ValueError, match="nothing"):
        combine_rectified([])
