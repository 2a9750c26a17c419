"""The clean path of :func:`streamcal.kernels.ramp.ramp_fit.fit_ramps`: pixels with no group flag in any integration.

Such a pixel has one segment of NGROUPS groups per integration, so stcal's rules reduce to closed forms:

- median rate: the median of the first differences over the group time (a pruned selection network,
  ``_order.select_inplace``), averaged over integrations;
- slope: the optimally weighted OLS in its symmetric form ``Σ_j a_j(P)·(y_{n−1−j} − y_j)`` with ``a_j`` from
  ``_ramp_segments.coefficient_table`` (the weights are symmetric about the middle group), P from the S/N;
- ``var_r`` and ``var_p`` are the same for every integration; the exposure divides them by NINTS and its rate is the
  mean of the integration rates (1/Σ(1/v) and read-noise weights reduce to that);
- ``ERR = √(var_p + var_r)``, variances ≥ 1e6 → 0 (the rate then 0), PIXELDQ DO_NOT_USE/SATURATED → NaN.

The pass returns the pixels it could not take (flags, NaN, gain ≤ 0, zero read noise, negative dark), which the
caller refits with ``_ramp_exact``. Per-pixel constants are float32 except the S/N (float64, so the weighting power
changes at exactly stcal's thresholds). All per-block arrays live in a :class:`Workspace` reused by every block:
fresh temporaries of this size would be returned to the OS and page-faulted back on every block (measured: 100k
extra faults, +0.5 s on a full frame).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._order import select_inplace
from streamcal.kernels.ramp._ramp_exact import Outputs, Setup
from streamcal.kernels.ramp._ramp_output import INVALID, LARGE_VARIANCE
from streamcal.kernels.ramp._ramp_segments import _SNR_EDGES

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

_BIG = np.float32(LARGE_VARIANCE)


class Workspace:
    """Named work arrays for blocks of ``npix`` pixels and ``batch`` integrations, allocated once.

    Getters return views of the first ``n`` elements (``n ≤ npix·batch``).
    """

    def __init__(self, npix: int, ngroups: int, batch: int = 1) -> None:
        self.npix = npix
        self.batch = batch
        self._diffs = np.empty(max(ngroups - 1, 1) * npix * batch, np.float32)
        self._f32: dict[str, F32] = {}
        self._f64: dict[str, F64] = {}

    def diffs(self, k: int, n: int) -> F32:
        """A contiguous ``(k, n)`` work stack."""
        return self._diffs[:k * n].reshape(k, n)

    def f32(self, name: str, n: int) -> F32:
        if name not in self._f32:
            self._f32[name] = np.empty(self.npix * self.batch, np.float32)
        return self._f32[name][:n]

    def f64(self, name: str, n: int) -> F64:
        if name not in self._f64:
            self._f64[name] = np.empty(self.npix * self.batch, np.float64)
        return self._f64[name][:n]


def fit_clean(values: F32, gdq: npt.NDArray[np.uint8], consts: tuple[F32, F32, F32],
              pixeldq: npt.NDArray[np.uint32], setup: Setup, out: Outputs, ws: Workspace) -> Index:
    """Write products for ``values``/``gdq`` of shape ``(nints, ngroups ≥ 3, M)``; return pixels to refit exactly.

    ``consts`` holds gain (e/DN), per-group read noise (e) and dark current (DN/s), each ``(M,)`` float32.
    """
    _, ngroups, m = values.shape
    gain, rnoise, dark = consts
    median = _median_rate(values, ws, setup)
    var_r, var_p = ws.f32("var_r", m), ws.f32("var_p", m)
    np.divide(rnoise, gain, out=var_r)
    np.multiply(var_r, var_r, out=var_r)
    var_r *= np.float32(12.0 / (setup.group_time**2 * (ngroups**3 - ngroups)))
    np.maximum(median, np.float32(0), out=var_p)
    var_p += dark
    var_p /= gain
    var_p *= np.float32(1.0 / (setup.group_time * (ngroups - 1)))
    odd = np.bitwise_or.reduce(gdq, axis=(0, 1)) != 0
    odd |= ~(gain > 0) | ~(var_r > 0) | ~(var_r < np.inf) | ~(var_p >= 0) | ~(var_p < np.inf)
    invalid = np.flatnonzero((pixeldq & INVALID) != 0)
    slope_sum = _integrations(values, consts, var_p, var_r, invalid, pixeldq, setup, out, ws)
    _exposure(slope_sum, var_p, var_r, invalid, pixeldq, out)
    odd |= np.isnan(slope_sum)
    return np.flatnonzero(odd)


def _median_rate(values: F32, ws: Workspace, setup: Setup) -> F32:
    """Mean over integrations of the median first difference per group time, ``(M,)``.

    Integrations are processed ``ws.batch`` at a time (one network pass over all their pixels); the sum still
    runs integration by integration, so the float32 rounding does not depend on the batching.
    """
    nints, ngroups, m = values.shape
    k = ngroups - 1
    total = ws.f32("median", m)
    total[:] = 0
    for i0 in range(0, nints, ws.batch):
        part = values[i0:i0 + ws.batch]
        b = part.shape[0]
        work, tmp = ws.diffs(k, b * m), ws.f32("tmp", b * m)
        np.subtract(part[:, 1:].transpose(1, 0, 2), part[:, :-1].transpose(1, 0, 2), out=work.reshape(k, b, m))
        lo, hi = select_inplace(work, tmp, ((k - 1) // 2, k // 2), setup.median_ops)
        for i in range(b):
            total += lo[i * m:(i + 1) * m]
            total += hi[i * m:(i + 1) * m]
    total *= np.float32(0.5 / (setup.group_time * nints))
    return total


def _integrations(values: F32, consts: tuple[F32, F32, F32], var_p: F32, var_r: F32, invalid: Index,
                  pixeldq: npt.NDArray[np.uint32], setup: Setup, out: Outputs, ws: Workspace) -> F32:
    """Write the integration products; return the sum of the integration slopes."""
    m = values.shape[2]
    err, scale, var_r_out, var_p_out = (ws.f32(n, m) for n in ("err", "scale", "var_r_out", "var_p_out"))
    np.add(var_p, var_r, out=err)
    np.sqrt(err, out=err)
    err[err > np.sqrt(_BIG)] = 0  # ERR² > 1e6
    np.less(var_r, _BIG, out=scale, casting="unsafe")
    np.multiply(var_r, scale, out=var_r_out)
    np.copyto(var_p_out, var_p)
    var_p_out[~(var_p < _BIG)] = 0
    for arr in (err, var_p_out, var_r_out):
        arr[invalid] = 0
    slope_sum = ws.f32("slope_sum", m)
    slope_sum[:] = 0
    for i0 in range(0, values.shape[0], ws.batch):
        part = values[i0:i0 + ws.batch]
        slope = ws.f32("slope", part.shape[0] * m).reshape(-1, m)
        _slopes(part, consts, setup, ws, slope)
        for row in slope:  # integration by integration, as the rounding of the exposure mean requires
            slope_sum += row
        slope *= scale
        slope[:, invalid] = np.nan
        out.rateints[i0:i0 + ws.batch] = slope
    out.err_ints[:] = err
    out.var_p_ints[:] = var_p_out
    out.var_r_ints[:] = var_r_out
    out.dq_ints[:] = pixeldq
    return slope_sum


def _exposure(slope_sum: F32, var_p: F32, var_r: F32, invalid: Index, pixeldq: npt.NDArray[np.uint32],
              out: Outputs) -> None:
    """Exposure products: VAR/NINTS each (capped at 1e6), the mean rate, ERR = √(VAR_P + VAR_R)."""
    nints = np.float32(out.rateints.shape[0])
    np.divide(var_r, nints, out=out.var_r)
    out.var_r[out.var_r >= _BIG] = 0
    np.divide(var_p, nints, out=out.var_p)
    out.var_p[out.var_p >= _BIG] = 0
    np.divide(slope_sum, nints, out=out.rate)
    out.rate[out.var_r == 0] = 0
    np.add(out.var_p, out.var_r, out=out.err)
    np.sqrt(out.err, out=out.err)
    out.rate[invalid] = np.nan
    for arr in (out.err, out.var_p, out.var_r):
        arr[invalid] = 0
    out.dq[:] = pixeldq


def _slopes(values: F32, consts: tuple[F32, F32, F32], setup: Setup, ws: Workspace, acc: F32) -> None:
    """Weighted OLS slopes (DN/s) of whole ramps into ``acc`` ``(b, M)``; ``values`` shape ``(b, ngroups, M)``."""
    ngroups = values.shape[1]
    power = power_class(values[:, -1], values[:, 0], consts, ws)
    column = ngroups * 6
    coef, diff = (ws.f32(n, acc.size).reshape(acc.shape) for n in ("coef", "diff"))
    acc[:] = 0
    for j in range(ngroups // 2):
        np.take(setup.table[ngroups - 1 - j, column:column + 6], power, mode="wrap", out=coef)
        np.subtract(values[:, ngroups - 1 - j], values[:, j], out=diff)
        coef *= diff
        acc += coef
    acc *= np.float32(1.0 / setup.group_time)


def power_class(last: F32, first: F32, consts: tuple[F32, F32, F32], ws: Workspace) -> npt.NDArray[np.int8]:
    """Index of the weighting power from the S/N ``S = Δg/√(R² + Δg)`` (Δ = last − first), comparing ``S·|S|``
    with the squared edges in float64 (no square root). NaN gives 0 here; such pixels are refitted exactly.

    ``last``/``first`` have shape ``(..., M)``; the constants ``(M,)`` broadcast over the leading axes.
    """
    shape = last.shape
    gain, rnoise, _ = consts
    electrons, den, snr2 = (ws.f64(n, last.size).reshape(shape) for n in ("electrons", "den", "snr2"))
    np.subtract(last, first, out=electrons, dtype=np.float64)
    electrons *= gain
    np.multiply(rnoise, rnoise, out=den, dtype=np.float64)
    den += electrons
    np.maximum(den, np.finfo(np.float64).tiny, out=den)
    np.abs(electrons, out=snr2)
    snr2 *= electrons
    snr2 /= den
    power = np.zeros(shape, np.int8)  # small (1 byte per pixel): the heap recycles it
    for edge in _SNR_EDGES:
        power += (snr2 >= edge * edge).view(np.int8)
    return power
