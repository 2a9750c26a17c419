"""combine_1d: the members' spectra, extracted on one wavelength grid, averaged (``jwst_spec.md`` §1.7).

As jwst's combine_1d with its default ``exptime_key='exposure_time'``: each member's points are weighted by
its exposure time, ``FLUX = Σ w F / Σ w`` and ``ERROR = √(Σ w² σ²) / Σ w`` (likewise SURF_BRIGHT and
SB_ERROR); points flagged DO_NOT_USE or not finite take no part. WEIGHT is ``Σ w``, N_INPUT the number of
members that contributed, DQ the OR of their flags (DO_NOT_USE where none did). Simplified: jwst resamples
spectra on different grids onto one; here every member is already on the common grid (the rectification's),
so no resampling happens. Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["CombinedColumns", "combine_spectra"]

F64 = npt.NDArray[np.float64]
_DNU = np.uint32(Pixel.DO_NOT_USE)


class CombinedColumns(NamedTuple):
    """The COMBINE1D columns except WAVELENGTH (the grid's)."""

    flux: F64
    error: F64
    surf_bright: F64
    sb_error: F64
    dq: npt.NDArray[np.uint32]
    weight: F64
    n_input: F64


def combine_spectra(flux: Sequence[npt.ArrayLike], error: Sequence[npt.ArrayLike], dq: Sequence[npt.ArrayLike],
                    *, weights: Sequence[float], surf_bright: Sequence[npt.ArrayLike] | None = None,
                    sb_error: Sequence[npt.ArrayLike] | None = None) -> CombinedColumns:
    """Weighted mean of spectra on one grid (see the module docstring).

    Raises
    ------
    ValueError
        No spectrum, spectra of different lengths, or a weight that is not positive. Not retriable.
    """
    if not flux:
        raise ValueError("no spectrum to combine")
    f = np.stack([np.asarray(a, dtype=np.float64) for a in flux])
    e = np.stack([np.asarray(a, dtype=np.float64) for a in error])
    q = np.stack([np.asarray(a, dtype=np.uint32) for a in dq])
    nan = np.full_like(f, np.nan)
    sb = nan if surf_bright is None else np.stack([np.asarray(a, dtype=np.float64) for a in surf_bright])
    sbe = nan if sb_error is None else np.stack([np.asarray(a, dtype=np.float64) for a in sb_error])
    if not f.shape == e.shape == q.shape == sb.shape == sbe.shape or len(weights) != f.shape[0]:
        raise ValueError("spectra to combine must share one length, with one weight each")
    w_in = np.asarray(weights, dtype=np.float64)
    if not np.all(w_in > 0):
        raise ValueError(f"combine_1d weights must be positive, got {list(w_in)}")
    good = ((q & _DNU) == 0) & np.isfinite(f) & np.isfinite(e)
    w = np.where(good, w_in[:, None], 0.0)
    total = w.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(total > 0, 1.0 / total, np.nan)
        out_f = np.sum(w * np.where(good, f, 0.0), axis=0) * inv
        out_e = np.sqrt(np.sum(w ** 2 * np.where(good, e, 0.0) ** 2, axis=0)) * inv
        sb_good = good & np.isfinite(sb)
        out_sb = np.where(sb_good.any(axis=0), np.sum(w * np.where(sb_good, sb, 0.0), axis=0) * inv, np.nan)
        out_sbe = np.where(sb_good.any(axis=0),
                           np.sqrt(np.sum(w ** 2 * np.where(sb_good, sbe, 0.0) ** 2, axis=0)) * inv, np.nan)
    out_dq = np.bitwise_or.reduce(np.where(good, q, 0).astype(np.uint32), axis=0)
    out_dq[total <= 0] |= _DNU
    return CombinedColumns(out_f, out_e, out_sb, out_sbe, out_dq.astype(np.uint32), total,
                           good.sum(axis=0).astype(np.float64))
