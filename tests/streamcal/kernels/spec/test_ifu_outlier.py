"""outlier_detection for dithered IFU members on one cube grid (streamcal.kernels.spec.ifu_outlier; issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from streamcal.kernels.spec.cube import CubeGrid, drizzle_weights
from streamcal.kernels.spec.ifu_outlier import flag_ifu_outliers

GRID = CubeGrid(0.0, 1.0, 0.0, 1.0, 1.0, 0.1, (4, 6, 8))  # nw, nb, na


def _member(shift: float = 0.0) -> tuple[np.ndarray, object]:
    """One pixel per voxel footprint, the boxes shifted by ``shift`` spaxels along alpha and beta."""
    w, b, a = np.meshgrid(np.arange(4), np.arange(6), np.arange(8), indexing="ij")
    a_lo, b_lo, w_lo = a.ravel() + shift, b.ravel() + shift, 1.0 + 0.1 * w.ravel()
    weights = drizzle_weights(a_lo, a_lo + 1, b_lo, b_lo + 1, w_lo, w_lo + 0.1, grid=GRID)
    centre = np.hypot(a.ravel() + shift + 0.5 - 4.0, b.ravel() + shift + 0.5 - 3.0)
    return 10.0 + 1000.0 * np.exp(-0.5 * centre**2), weights  # a steep "PSF" on a sky of 10


def test_a_hit_in_one_member_is_flagged_and_nothing_else() -> None:
    rng = np.random.default_rng(3)
    members = [_member(s) for s in (0.0, 0.5, 0.25)]
    values = [v + rng.normal(0.0, 1.0, v.size) for v, _ in members]
    values[1][88] += 50.0  # 50 σ in a sky pixel of the second member (w 1, b 5, a 0)
    found = flag_ifu_outliers(values, [np.ones(v.size) for v in values], [w for _, w in members])
    assert found.n_flagged == [0, 1, 0]
    assert found.masks[1][88]


def test_the_psf_core_is_protected_by_the_derivative_term() -> None:
    """The same 50 σ on the steep core (1 spaxel off the peak) is within the resampling error: not flagged."""
    members = [_member(s) for s in (0.0, 0.5, 0.25)]
    values = [v.copy() for v, _ in members]
    values[1][20] += 50.0
    found = flag_ifu_outliers(values, [np.ones(v.size) for v in values], [w for _, w in members])
    assert found.n_flagged == [0, 0, 0]
    values[1][20] += 5000.0  # a real hit
    assert flag_ifu_outliers(values, [np.ones(v.size) for v in values], [w for _, w in members]).masks[1][20]


def test_two_members_flag_nothing_and_inputs_are_not_modified() -> None:
    members = [_member(s) for s in (0.0, 0.5)]
    values = [v.copy() for v, _ in members]
    values[0][5] += 1e4
    before = [v.copy() for v in values]
    found = flag_ifu_outliers(values, [np.ones(v.size) for v in values], [w for _, w in members])
    assert found.n_flagged == [0, 0]
    assert all(np.array_equal(a, b) for a, b in zip(values, before, strict=True))


def test_mismatched_inputs_are_refused() -> None:
    (v, w), = [_member()]
    with pytest.raises(ValueError, match="one value and one variance per column"):
        flag_ifu_outliers([v[:-1]], [np.ones(v.size - 1)], [w])
    with pytest.raises(ValueError, match="resamplings"):
        flag_ifu_outliers([v, v], [np.ones(v.size)] * 2, [w])
