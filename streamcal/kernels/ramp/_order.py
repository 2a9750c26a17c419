"""Order statistics along a short leading axis, without ``np.nanmedian``.

Jump detection and ramp fitting need per-pixel medians of 2–100 values with some missing. ``np.nanmedian`` on a
short axis falls back to a masked-array sort and dominates stcal's run time (stcal_baseline.md, gotcha 7).
Here a stack of ``K`` planes (shape ``(K, M)``) is sorted with missing values (NaN) pushed to the end as ``+inf``:

- short stacks: Batcher's odd–even merge sorting network (Knuth, TAOCP vol. 3, §5.3.4), applied as
  ``np.minimum``/``np.maximum`` on whole planes, so each comparator is one SIMD pass over ``M`` pixels;
- otherwise ``np.sort`` on a pixel-major copy (numpy's vectorised sort wins for long stacks).

A median is then a gather at positions fixed by the per-pixel count of finite values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__: list[str] = []

F32 = npt.NDArray[np.float32]

#: Longest stack fully sorted with a network (``sort_nan_last``, used on small pixel subsets where the per-op
#: overhead counts); beyond this ``np.sort`` is faster (measured on AVX-512, numpy 2.4).
_NETWORK_MAX = 20
#: Longest stack for ``select``: a pruned network on whole planes beats transposing for ``np.sort`` up to here
#: (K = 99: 0.4 vs 0.6 µs per pixel; K = 49: 0.10 vs 0.24).
_SELECT_NETWORK_MAX = 128


def batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's odd–even merge sort for ``n`` inputs.

    The network for the next power of two is pruned of comparators that touch a padding position: padding
    holds ``+inf``, so those comparators never swap.
    """
    p = 1
    while p < n:
        p *= 2
    pairs = []
    t = 1
    while t < p:
        k = t
        while k >= 1:
            for j in range(k % t, p - k, 2 * k):
                for i in range(min(k, p - j - k)):
                    if (i + j) // (2 * t) == (i + j + k) // (2 * t) and i + j + k < n:
                        pairs.append((i + j, i + j + k))
            k //= 2
        t *= 2
    return pairs


def selection_ops(n: int, positions: tuple[int, ...]) -> list[tuple[int, int, bool, bool]]:
    """Batcher's network for ``n`` inputs pruned to the comparators that feed the wanted output ``positions``.

    Each op is ``(a, b, keep_min, keep_max)``: only the wanted side of a comparator is computed.
    """
    needed = set(positions)
    ops = []
    for a, b in reversed(batcher_pairs(n)):
        want_a, want_b = a in needed, b in needed
        if want_a or want_b:
            ops.append((a, b, want_a, want_b))
            needed |= {a, b}
    return ops[::-1]


def select(stack: F32, positions: tuple[int, ...], ops: list[tuple[int, int, bool, bool]] | None = None) -> list[F32]:
    """Order statistics ``positions`` along axis 0 of ``stack`` (shape ``(K, M)``, no NaN), as ``(M,)`` arrays.

    ``stack`` is not modified; see :func:`select_inplace` for the allocation-free variant.
    """
    if stack.shape[0] > _SELECT_NETWORK_MAX:
        return _select_by_sort(stack, positions)
    work = stack.copy()
    return [p.copy() for p in select_inplace(work, np.empty_like(work[0]), positions, ops)]


def select_inplace(
    work: F32, tmp: F32, positions: tuple[int, ...], ops: list[tuple[int, int, bool, bool]] | None = None
) -> list[F32]:
    """Like :func:`select`, but scrambles ``work`` (shape ``(K, M)``) and ``tmp`` (``(M,)``) instead of allocating.

    The returned arrays are views into ``work``/``tmp``, valid until they are reused. A pruned sorting network for
    ``K <= _SELECT_NETWORK_MAX``; beyond that ``np.sort`` on a pixel-major copy (which allocates).
    """
    k = work.shape[0]
    if k > _SELECT_NETWORK_MAX:
        return _select_by_sort(work, positions)
    planes = list(work)
    for a, b, keep_min, keep_max in ops if ops is not None else selection_ops(k, positions):
        if keep_min and keep_max:
            np.minimum(planes[a], planes[b], out=tmp)
            np.maximum(planes[a], planes[b], out=planes[b])
            planes[a], tmp = tmp, planes[a]
        elif keep_min:
            np.minimum(planes[a], planes[b], out=planes[a])
        else:
            np.maximum(planes[a], planes[b], out=planes[b])
    return [planes[p] for p in positions]


def _select_by_sort(stack: F32, positions: tuple[int, ...]) -> list[F32]:
    srt = np.sort(np.ascontiguousarray(stack.T), axis=1)
    return [np.ascontiguousarray(srt[:, p]) for p in positions]


def sort_nan_last(stack: F32, pairs: list[tuple[int, int]] | None = None) -> tuple[F32, npt.NDArray[np.intp]]:
    """Sort ``stack`` (shape ``(K, M)``, float32) along axis 0 with NaN last (as ``+inf``).

    Parameters
    ----------
    stack : ndarray, shape (K, M), float32
        Values to sort. Not modified.
    pairs : list of (int, int), optional
        ``batcher_pairs(K)``, when the caller sorts many blocks of the same height.

    Returns
    -------
    sorted : ndarray, shape (K, M), float32
        Sorted values; missing ones are ``+inf`` at the end.
    count : ndarray, shape (M,), intp
        Number of finite values per column.
    """
    k = stack.shape[0]
    work = np.where(np.isnan(stack), np.float32(np.inf), stack)
    count = k - np.count_nonzero(work == np.inf, axis=0)
    if k <= _NETWORK_MAX:
        planes = list(work)
        tmp = np.empty_like(work[0])
        for a, b in pairs if pairs is not None else batcher_pairs(k):
            np.minimum(planes[a], planes[b], out=tmp)
            np.maximum(planes[a], planes[b], out=planes[b])
            planes[a], tmp = tmp, planes[a]
        out = np.stack(planes) if k > 1 else work
    else:
        out = np.sort(np.ascontiguousarray(work.T), axis=1).T
    return out, count


def take_rows(sorted_stack: F32, index: npt.NDArray[np.intp]) -> F32:
    """``sorted_stack[index[m], m]`` for every column ``m`` (indices are clipped into range)."""
    idx = np.clip(index, 0, sorted_stack.shape[0] - 1)
    return np.take_along_axis(sorted_stack, idx[None, :], axis=0)[0]


def median_of_first(sorted_stack: F32, n: npt.NDArray[np.intp]) -> F32:
    """Median of the first ``n[m]`` sorted values of each column; NaN where ``n == 0``.

    Even counts average the two middle values (numpy's convention), in float32.
    """
    lo = take_rows(sorted_stack, (n - 1) // 2)
    hi = take_rows(sorted_stack, n // 2)
    med = (lo + hi) * np.float32(0.5)
    med[n <= 0] = np.nan
    return med


def nan_median(stack: F32, pairs: list[tuple[int, int]] | None = None) -> F32:
    """Median over axis 0 of ``stack`` (shape ``(K, M)``) ignoring NaN; NaN where a column has none."""
    srt, count = sort_nan_last(stack, pairs)
    return median_of_first(srt, count)
