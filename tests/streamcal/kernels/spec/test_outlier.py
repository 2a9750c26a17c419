"""outlier_detection on rectified members (issue 11): a hit in one member is flagged against the median."""

from __future__ import annotations

import numpy as np

from streamcal.dq import Pixel
from streamcal.kernels.spec.outlier import flag_spectral_outliers

SHAPE = (21, 40)


def _members(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    y = np.arange(SHAPE[0])[:, None]
    trace = 500.0 * np.exp(-0.5 * ((y - 10.2) / 1.1) ** 2) * np.ones(SHAPE)
    return [trace + rng.normal(0, 1.0, SHAPE) for _ in range(n)]


def test_a_hit_in_one_of_three_members_is_flagged_there_only() -> None:
    rng = np.random.default_rng(5)
    sci = _members(3, rng)
    sci[1][10, 17] += 2000.0
    err = [np.ones(SHAPE)] * 3
    dq = [np.zeros(SHAPE, np.uint32)] * 3
    found = flag_spectral_outliers(sci, err, dq)
    assert found.masks[1][10, 17] and found.n_flagged == [0, 1, 0]


def test_two_members_or_flagged_pixels_are_not_tested() -> None:
    rng = np.random.default_rng(6)
    sci = _members(2, rng)
    sci[0][10, 5] += 2000.0
    found = flag_spectral_outliers(sci, [np.ones(SHAPE)] * 2, [np.zeros(SHAPE, np.uint32)] * 2)
    assert found.n_flagged == [0, 0]
    sci = _members(3, rng)
    sci[2][3, 3] = 1e6
    dq = [np.zeros(SHAPE, np.uint32) for _ in range(3)]
    dq[2][3, 3] = Pixel.DO_NOT_USE
    found = flag_spectral_outliers(sci, [np.ones(SHAPE)] * 3, dq)
    assert not found.masks[2][3, 3]  # already unusable: not counted again
