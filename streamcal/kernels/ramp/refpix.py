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
from streamcal.kernels.ramp._common import as_dq, as_f32

__all__ = ["EDGE", "RefpixCorrection", "RefpixEdges", "apply_refpix", "edge_index", "refpix_correction", "refpix_edges"]

F32 = npt.NDArray[np.float32]
EDGE = 4
AMP_WIDTH = 512


class RefpixEdges(NamedTuple):
    """The 4-pixel edges of a ramp in the readout frame (fast axis last) — all refpix ever reads.

    ``slow`` holds the first and last 4 lines along the slow axis (nints, ngroups, 8, nfast); ``fast`` the
    first and last 4 columns along the fast axis (nints, ngroups, nslow, 8); ``*_dq`` the matching PIXELDQ.
    """

    slow: F32
    fast: F32
    slow_dq: npt.NDArray[np.uint32]
    fast_dq: npt.NDArray[np.uint32]


def refpix_edges(data: npt.ArrayLike, pixeldq: npt.ArrayLike, *, fastaxis: int) -> RefpixEdges:
    """Cut the edges out of a (nints, ngroups, ny, nx) ramp and its (ny, nx) PIXELDQ (new arrays)."""
    sci = _readout_frame(as_f32(data, "data", 4), fastaxis)
    pdq = _readout_frame(as_dq(pixeldq, "pixeldq", 2, np.uint32), fastaxis)
    slow_idx = edge_index(sci.shape[-2])
    fast_idx = edge_index(sci.shape[-1])
    return RefpixEdges(np.ascontiguousarray(sci[..., slow_idx, :]), np.ascontiguousarray(sci[..., fast_idx]),
                       np.ascontiguousarray(pdq[slow_idx, :]), np.ascontiguousarray(pdq[:, fast_idx]))


def edge_index(n: int) -> npt.NDArray[np.intp]:
    """Indices of the first and last ``EDGE`` positions (fewer, without repeats, for tiny axes)."""
    return np.unique(np.concatenate([np.arange(min(EDGE, n)), np.arange(max(n - EDGE, 0), n)]))


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
    """Offset per fast-axis pixel (nints, ngroups, nfast) from the 2×4 slow-axis edge lines in ``data``."""
    nplanes = data.shape[:2]
    nfast = data.shape[-1]
    width = nfast // n_amps if n_amps > 1 else nfast
    terms = np.zeros((*nplanes, nfast), np.float32)
    edges = [slice(0, EDGE), slice(EDGE, 2 * EDGE)]
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


def _side_terms(fast: F32, usable: npt.NDArray[np.bool_], amp: F32, length: int, gain: float) -> F32:
    """Side term per slow-axis line from the 2×4 fast-axis edge columns in ``fast``."""
    left = _running_median(fast[..., :EDGE] - amp[..., None, :EDGE], usable[:, :EDGE], length)
    right = _running_median(fast[..., EDGE:] - amp[..., None, -EDGE:], usable[:, EDGE:], length)
    return (np.float32(gain) * _mean2(np.stack([left, right]))).astype(np.float32)


def refpix_correction(
    edges: RefpixEdges,
    *,
    fastaxis: int,
    noutputs: int,
    odd_even_columns: bool = True,
    use_side_ref_pixels: bool = True,
    side_smoothing_length: int = 11,
    side_gain: float = 1.0,
    siglimit: float = 3.0,
) -> RefpixCorrection:
    """Compute the reference-pixel correction of a NIR ramp from its edges.

    Parameters
    ----------
    edges : RefpixEdges
        From :func:`refpix_edges` (or read straight from a memory-mapped file): superbias-subtracted DN.
        DO_NOT_USE pixels are excluded; single-output subarrays use only REFERENCE_PIXEL pixels.
    fastaxis : int
        FASTAXIS (decides whether the result's row term runs along the slow or the fast axis).
    noutputs : int
        NOUTPUTS (4 = full-frame-like readout with amplifier stripes and side columns).

    Returns
    -------
    RefpixCorrection
        ``applied`` is False (zero terms) when the reference pixels do not allow a correction.
    """
    nints, ngroups, _, nfast = edges.slow.shape
    nslow = edges.fast.shape[-2]
    zeros_slow = np.zeros((nints, ngroups, nslow), np.float32)
    slow_ok = (edges.slow_dq & Pixel.DO_NOT_USE) == 0
    full_like = noutputs == 4 and edges.slow.shape[-2] == 2 * EDGE and edges.fast.shape[-1] == 2 * EDGE
    if full_like:
        amp = _amp_terms(edges.slow, slow_ok, 4 if nfast >= 4 * AMP_WIDTH else 1, odd_even_columns, siglimit)
        side = zeros_slow
        if use_side_ref_pixels:
            fast_ok = (edges.fast_dq & Pixel.DO_NOT_USE) == 0
            side = _side_terms(edges.fast, fast_ok, amp, side_smoothing_length, side_gain)
        fast_term, slow_term, applied = amp, side, True
    else:
        ref = slow_ok & ((edges.slow_dq & Pixel.REFERENCE_PIXEL) != 0)
        fast_term, slow_term, applied = _subarray_terms(edges.slow, ref, odd_even_columns, siglimit, nslow)
    if abs(fastaxis) == 1:
        return RefpixCorrection(slow_term, fast_term, applied)
    return RefpixCorrection(fast_term, slow_term, applied)


def _subarray_terms(
    sci: F32, ref: npt.NDArray[np.bool_], parity: bool, siglimit: float, nslow: int
) -> tuple[F32, F32, bool]:
    """One clipped mean per parity of the REFERENCE_PIXEL pixels among the slow-axis edge lines."""
    nints, ngroups, _, nfast = sci.shape
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


def apply_refpix(block: npt.ArrayLike, correction: RefpixCorrection, *, rows: slice,
                 cols: slice = slice(None)) -> F32:
    """Subtract the correction from a tile (nints, ngroups, nrows, ncols) → a new array.

    ``rows`` and ``cols`` place the tile in the full array; the correction's terms are sliced by them.
    """
    sci = as_f32(block, "block", 4)
    return sci - correction.row_term[:, :, rows, None] - correction.col_term[:, :, None, cols]
