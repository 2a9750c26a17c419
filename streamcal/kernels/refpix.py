"""refpix: remove amplifier offsets and 1/f drifts using the reference pixels (jwst_spec.md §4.5, NIR "median").

Work in the *readout frame*: the fast axis is DMS x when |FASTAXIS| = 1, DMS y otherwise (flips do not matter:
the statistics are symmetric under reversal). Per integration and group:

1. Amplifiers are 512-pixel stripes along the fast axis (four-output readouts; one amplifier otherwise). For each
   amplifier and parity of the fast index (``odd_even_columns``), the 3σ-clipped mean (scipy ``sigmaclip``
   semantics) of the usable reference pixels of the first 4 and last 4 slow-axis lines is computed; their
   average (or the one available) is the offset subtracted from that amplifier's pixels of that parity.
2. Side correction (four-output only): along the first and last 4 fast-axis columns, a running median over a
   window of ``side_smoothing_length`` slow-axis lines (reflected at the ends, DO_NOT_USE excluded) of the
   already offset-corrected reference pixels; left and right are averaged (one if the other is missing, 0 if
   both are) and ``side_gain`` × that is subtracted from the whole line.

The correction is separable — an amplifier/parity term along the fast axis plus a side term along the slow
axis — so it is computed once from the edges (:func:`refpix_correction`) and applied to any row block
(:func:`apply_refpix`), which is what lets stage 1 stream the ramp. Single-output subarrays use only pixels
flagged REFERENCE_PIXEL (one clipped mean per parity, no side term); if any group has none, nothing is done.
MIRI reference pixels are not used (jwst skips the step for MIRI by default).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels._common import as_dq, as_f32

__all__ = ["RefpixCorrection", "apply_refpix", "refpix_correction"]

F32 = npt.NDArray[np.float32]
EDGE = 4
AMP_WIDTH = 512


class RefpixCorrection(NamedTuple):
    row_term: F32  # (nints, ngroups, ny): subtract along DMS rows
    col_term: F32  # (nints, ngroups, nx): subtract along DMS columns
    applied: bool


def _clipped_mean(values: F32, siglimit: float, max_iter: int = 10) -> F32:
    """Iterative σ-clipped mean over the last axis (NaN = excluded); NaN where nothing is left."""
    work = values.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(max_iter):
            count = np.sum(np.isfinite(work), axis=-1)
            if not count.any():
                break
            mean = np.nansum(work, axis=-1) / np.maximum(count, 1)
            std = np.sqrt(np.nansum((work - mean[..., None]) ** 2, axis=-1) / np.maximum(count, 1))
            keep = np.abs(work - mean[..., None]) <= siglimit * std[..., None]
            keep |= (std == 0)[..., None]
            clipped = np.where(keep, work, np.nan)
            if np.sum(np.isfinite(clipped)) == np.sum(np.isfinite(work)):
                break
            work = clipped
        count = np.sum(np.isfinite(work), axis=-1)
        mean = np.nansum(work, axis=-1) / np.maximum(count, 1)
    return np.where(count > 0, mean, np.nan).astype(np.float32)


def _readout_frame(array: np.ndarray, fastaxis: int) -> np.ndarray:
    """View with the fast axis last (swap the last two axes when |FASTAXIS| != 1)."""
    return array if abs(fastaxis) == 1 else np.swapaxes(array, -1, -2)


def _amp_terms(data: F32, usable: npt.NDArray[np.bool_], n_amps: int, parity: bool, siglimit: float) -> F32:
    """Offset per fast-axis pixel (nints, ngroups, nfast) from the slow-axis edge lines."""
    nplanes = data.shape[:2]
    nfast = data.shape[-1]
    width = nfast // n_amps if n_amps > 1 else nfast
    terms = np.zeros((*nplanes, nfast), np.float32)
    edges = [slice(0, EDGE), slice(data.shape[-2] - EDGE, data.shape[-2])]
    for amp in range(n_amps):
        cols = np.arange(amp * width, min((amp + 1) * width, nfast))
        for par in ((0, 1) if parity else (None,)):
            sel = cols if par is None else cols[cols % 2 == par]
            means = []
            for rows in edges:
                vals = np.where(usable[rows][:, sel], data[:, :, rows][..., sel], np.nan)
                means.append(_clipped_mean(vals.reshape(*nplanes, -1), siglimit))
            terms[..., sel] = _mean2(np.stack(means))[..., None]
    return terms


def _mean2(both: F32) -> F32:
    """Mean of two estimates, the available one if one is NaN, 0 if both are."""
    top, bottom = both[0], both[1]
    out = np.where(np.isfinite(top) & np.isfinite(bottom), (top + bottom) / 2, np.where(np.isfinite(top), top, bottom))
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def _running_median(side: F32, usable: npt.NDArray[np.bool_], length: int) -> F32:
    """Running median over ``length`` slow-axis lines of a (nints, ngroups, nslow, 4) strip → (..., nslow)."""
    half = length // 2
    vals = np.where(usable, side, np.nan)
    padded = np.pad(vals, ((0, 0), (0, 0), (half, half), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, length, axis=2)  # (..., nslow, 4, length)
    flat = windows.reshape(*windows.shape[:3], -1)
    if not np.isnan(flat).any():
        return np.median(flat, axis=-1).astype(np.float32)
    filled = np.isfinite(flat).any(axis=-1)
    # Empty windows get a dummy 0 so nanmedian does not warn; they are NaN again below.
    med = np.nanmedian(np.where(filled[..., None], flat, 0.0), axis=-1)
    return np.where(filled, med, np.nan).astype(np.float32)


def _side_terms(data: F32, usable: npt.NDArray[np.bool_], amp: F32, length: int, gain: float) -> F32:
    nfast = data.shape[-1]
    left = _running_median(data[..., :EDGE] - amp[..., None, :EDGE], usable[:, :EDGE], length)
    right = _running_median(data[..., nfast - EDGE:] - amp[..., None, nfast - EDGE:], usable[:, nfast - EDGE:], length)
    return (np.float32(gain) * _mean2(np.stack([left, right]))).astype(np.float32)


def refpix_correction(
    data: npt.ArrayLike,
    pixeldq: npt.ArrayLike,
    *,
    fastaxis: int,
    noutputs: int,
    odd_even_columns: bool = True,
    use_side_ref_pixels: bool = True,
    side_smoothing_length: int = 11,
    side_gain: float = 1.0,
    siglimit: float = 3.0,
) -> RefpixCorrection:
    """Compute the reference-pixel correction of a NIR ramp.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
        Superbias-subtracted DN. Only the 4-pixel edges are read, so a caller may pass an array whose interior
        is not loaded (e.g. zeros) — see :func:`streamcal.kernels.refpix` module docs.
    pixeldq : ndarray, shape (ny, nx), uint32
        DO_NOT_USE pixels are excluded; single-output subarrays use REFERENCE_PIXEL pixels.
    fastaxis : int
        FASTAXIS.
    noutputs : int
        NOUTPUTS (4 = full-frame-like readout with amplifier stripes and side columns).

    Returns
    -------
    RefpixCorrection
        ``applied`` is False (zero terms) when no group has usable reference pixels.
    """
    sci = _readout_frame(as_f32(data, "data", 4), fastaxis)
    pdq = _readout_frame(as_dq(pixeldq, "pixeldq", 2, np.uint32), fastaxis)
    nints, ngroups, nslow, nfast = sci.shape
    zeros_fast = np.zeros((nints, ngroups, nfast), np.float32)
    zeros_slow = np.zeros((nints, ngroups, nslow), np.float32)
    usable = (pdq & Pixel.DO_NOT_USE) == 0
    if noutputs == 4 and nslow > 2 * EDGE and nfast > 2 * EDGE:
        amp = _amp_terms(sci, usable, 4 if nfast >= 4 * AMP_WIDTH else 1, odd_even_columns, siglimit)
        side = zeros_slow
        if use_side_ref_pixels:
            side = _side_terms(sci, usable, amp, side_smoothing_length, side_gain)
        fast_term, slow_term, applied = amp, side, True
    else:
        fast_term, slow_term, applied = _subarray_terms(sci, usable & ((pdq & Pixel.REFERENCE_PIXEL) != 0),
                                                        odd_even_columns, siglimit)
        if not applied:
            fast_term = zeros_fast
    if abs(fastaxis) == 1:
        return RefpixCorrection(slow_term, fast_term, applied)
    return RefpixCorrection(fast_term, slow_term, applied)


def _subarray_terms(sci: F32, ref: npt.NDArray[np.bool_], parity: bool, siglimit: float) -> tuple[F32, F32, bool]:
    nints, ngroups, nslow, nfast = sci.shape
    zeros_slow = np.zeros((nints, ngroups, nslow), np.float32)
    if not ref.any():
        return np.zeros((nints, ngroups, nfast), np.float32), zeros_slow, False
    fast_idx = np.arange(nfast)
    terms = np.zeros((nints, ngroups, nfast), np.float32)
    for par in ((0, 1) if parity else (None,)):
        cols = fast_idx if par is None else fast_idx[fast_idx % 2 == par]
        mask = ref[:, cols]
        if not mask.any():
            continue
        vals = np.where(mask, sci[..., cols], np.nan).reshape(nints, ngroups, -1)
        mean = _clipped_mean(vals, siglimit)
        if not np.isfinite(mean).all():
            return terms, zeros_slow, False
        terms[..., cols] = mean[..., None]
    return terms, zeros_slow, True


def apply_refpix(block: npt.ArrayLike, correction: RefpixCorrection, *, rows: slice) -> F32:
    """Subtract the correction from a row block (nints, ngroups, y1-y0, nx) → a new array.

    ``rows`` is the block's row range in the full array; the correction's row term is sliced by it.
    """
    sci = as_f32(block, "block", 4)
    row = correction.row_term[:, :, rows]
    return sci - row[..., None] - correction.col_term[:, :, None, :]
