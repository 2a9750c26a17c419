from __future__ import annotations

import numpy as np
import pytest

from streamcal.dq import Pixel
from streamcal.kernels.ramp.refpix import apply_refpix, refpix_correction, refpix_edges


def _frame(ny, nx, *, fast_is_x=True, seed=1, side=True):
    rng = np.random.default_rng(seed)
    nslow, nfast = (ny, nx) if fast_is_x else (nx, ny)
    offsets = rng.uniform(-50, 50, size=(2, 3, 4, 2)).astype(np.float32)  # (ints, groups, amp, parity)
    fast = np.arange(nfast)
    amp = np.minimum(fast // (nfast // 4), 3) if nfast >= 2048 else np.zeros_like(fast)
    term_fast = offsets[:, :, amp, fast % 2]  # (2, 3, nfast)
    drift = (20 * np.sin(np.arange(nslow) / 40.0))[None, None, :] * (rng.uniform(0.5, 1.5, (2, 3, 1)))
    term_slow = drift.astype(np.float32) if side else np.zeros((2, 3, nslow), np.float32)
    signal = rng.normal(0, 1.0, (2, 3, nslow, nfast)).astype(np.float32)
    data = signal + term_fast[:, :, None, :] + term_slow[:, :, :, None]
    if not fast_is_x:
        data = np.swapaxes(data, -1, -2).copy()
        signal = np.swapaxes(signal, -1, -2)
    pdq = np.zeros((ny, nx), np.uint32)
    pdq[:4], pdq[-4:], pdq[:, :4], pdq[:, -4:] = (Pixel.REFERENCE_PIXEL,) * 4
    return data, pdq, signal


@pytest.mark.parametrize("fastaxis", [-1, 2])
def test_full_frame_offsets_and_drift_are_removed(fastaxis):
    data, pdq, signal = _frame(2048, 2048, fast_is_x=abs(fastaxis) == 1)
    before = np.std(data[:, :, 4:-4, 4:-4] - signal[:, :, 4:-4, 4:-4])
    corr = refpix_correction(refpix_edges(data, pdq, fastaxis=fastaxis), fastaxis=fastaxis, noutputs=4)
    assert corr.applied
    out = apply_refpix(data, corr, rows=slice(0, 2048))
    residual = out[:, :, 4:-4, 4:-4] - signal[:, :, 4:-4, 4:-4]
    assert before > 10
    assert np.abs(np.median(residual)) < 0.2
    assert np.std(residual) < 0.6  # the clipped means of ~1000 pixels and an 11-row running median


def test_row_blocks_give_the_same_answer_as_the_whole():
    data, pdq, _ = _frame(2048, 2048)
    corr = refpix_correction(refpix_edges(data, pdq, fastaxis=-1), fastaxis=-1, noutputs=4)
    whole = apply_refpix(data, corr, rows=slice(0, 2048))
    block = apply_refpix(data[:, :, 100:164], corr, rows=slice(100, 164))
    np.testing.assert_array_equal(block, whole[:, :, 100:164])


def test_interior_is_never_read():
    data, pdq, _ = _frame(2048, 2048)
    hollow = data.copy()
    hollow[:, :, 4:-4, 4:-4] = 0
    a = refpix_correction(refpix_edges(data, pdq, fastaxis=-1), fastaxis=-1, noutputs=4)
    b = refpix_correction(refpix_edges(hollow, pdq, fastaxis=-1), fastaxis=-1, noutputs=4)
    np.testing.assert_array_equal(a.row_term, b.row_term)
    np.testing.assert_array_equal(a.col_term, b.col_term)


def test_do_not_use_reference_pixels_are_ignored():
    data, pdq, signal = _frame(2048, 2048, side=False)
    data[:, :, :4, :40] = 1e6
    pdq[:4, :40] |= np.uint32(Pixel.DO_NOT_USE)
    corr = refpix_correction(refpix_edges(data, pdq, fastaxis=-1), fastaxis=-1, noutputs=4, use_side_ref_pixels=False)
    out = apply_refpix(data, corr, rows=slice(0, 2048))
    assert np.abs(np.median(out[:, :, 4:-4, 4:100] - signal[:, :, 4:-4, 4:100])) < 0.2


def test_single_output_subarray_uses_flagged_reference_pixels_only():
    data, pdq, signal = _frame(64, 64, side=False)
    sub_pdq = np.zeros_like(pdq)
    sub_pdq[:4] = Pixel.REFERENCE_PIXEL  # a subarray touching only the bottom edge
    corr = refpix_correction(refpix_edges(data, sub_pdq, fastaxis=-1), fastaxis=-1, noutputs=1)
    out = apply_refpix(data, corr, rows=slice(0, 64))
    assert corr.applied and np.abs(np.median(out[:, :, 4:] - signal[:, :, 4:])) < 0.3
    none = refpix_correction(refpix_edges(data, np.zeros_like(pdq), fastaxis=-1), fastaxis=-1, noutputs=1)
    assert not none.applied and not none.row_term.any() and not none.col_term.any()
