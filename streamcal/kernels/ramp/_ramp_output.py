"""Integration and exposure products of :mod:`streamcal.kernels.ramp.ramp_fit` from the per-segment sums.

The rules (thresholds, DQ, NaN) are those of stcal 1.20 ``slope_fitter.c`` (``ramp_fit_pixel`` and
``ramp_fit_pixel_integration_fit_slope``); see the ``ramp_fit`` module docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.ramp._ramp_dq import IntegrationDQ
from streamcal.kernels.ramp._ramp_segments import Sums

__all__: list[str] = []

F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
Bool = npt.NDArray[np.bool_]

LARGE_VARIANCE = 1e6
DNU = np.uint32(Pixel.DO_NOT_USE)
SAT = np.uint32(Pixel.SATURATED)
INVALID = DNU | SAT
CARRIED = np.uint32(Pixel.JUMP_DET | Pixel.PERSISTENCE)


def cap(var: F64, *, strict: bool = False) -> F64:
    """stcal's LARGE_VARIANCE_THRESHOLD: such variances (and NaN/inf) become 0."""
    bad = (var > LARGE_VARIANCE) if strict else (var >= LARGE_VARIANCE)
    return np.where(bad | ~np.isfinite(var), 0.0, var)


def inverse(total: F64) -> F64:
    """``1/total`` where ``total > 0``, else 0."""
    with np.errstate(divide="ignore"):
        return np.where(total > 0, 1.0 / total, 0.0)


class Products(NamedTuple):
    """One integration's products for some pixels, and their contributions to the exposure."""

    slope: F64
    err: F64
    dq: U32  #: before the partial-saturation flag
    var_p: F64
    var_r: F64
    inv_r: F64
    inv_p: F64
    slope_r: F64


def integration_products(sums: Sums, idq: IntegrationDQ, pixeldq: U32) -> Products:
    """Apply stcal's per-integration rules to segment sums (all arrays ``(m,)``)."""
    has = sums.has_segment & ~idq.sat0
    inv_r = np.where(has, sums.inv_r, 0.0)
    inv_p = np.where(has & (sums.inv_p > 0), sums.inv_p, 0.0)
    slope_r = np.where(has, sums.slope_r, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_r = np.where(has, cap(np.where(inv_r != 0, 1.0 / inv_r, np.inf)), 0.0)
        var_e = np.where(has, 1.0 / np.where(has, sums.inv_e, 1.0), 0.0)
        slope = np.where(has, slope_r * var_r, 0.0)
    var_p = cap(inverse(inv_p))
    err = np.where(var_e > LARGE_VARIANCE, 0.0, np.sqrt(var_e))
    dq = pixeldq | (idq.flags.astype(np.uint32) & CARRIED)
    dq |= np.where(idq.sat0, INVALID, 0).astype(np.uint32)
    dq |= np.where(idq.unusable, DNU, 0).astype(np.uint32)
    dq |= np.where(idq.all_sat, SAT, 0).astype(np.uint32)
    invalid = (dq & INVALID) != 0
    slope[invalid] = np.nan
    for arr in (var_p, var_r, err):
        arr[invalid] = 0.0
    return Products(slope, err, dq, var_p, var_r, inv_r, inv_p, slope_r)


@dataclass(slots=True)
class Exposure:
    """Running exposure-level sums for one row block, shape ``(M,)``."""

    pixeldq: U32
    inv_r: F64
    inv_p: F64
    slope_r: F64
    flags: U32  #: JUMP_DET/PERSISTENCE seen, and partial saturation (as SATURATED)
    n_dnu: npt.NDArray[np.intp]  #: integrations made DO_NOT_USE by their own groups
    n_sat: npt.NDArray[np.intp]  #: integrations made SATURATED by their own groups

    @classmethod
    def start(cls, pixeldq: U32) -> Exposure:
        m = pixeldq.size
        return cls(pixeldq, np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m, np.uint32),
                   np.zeros(m, np.intp), np.zeros(m, np.intp))

    def add_all(self, prod: Products, idq: IntegrationDQ, nints: int) -> None:
        """Add ``nints`` integrations given as integration-major columns (length ``nints·M``), in order."""
        m = self.pixeldq.size
        for total, part in ((self.inv_r, prod.inv_r), (self.inv_p, prod.inv_p), (self.slope_r, prod.slope_r)):
            for row in part.reshape(nints, m):  # in order: the float64 rounding depends on it
                total += row
        flags = (idq.flags.astype(np.uint32) & CARRIED) | np.where(idq.any_sat, SAT, 0).astype(np.uint32)
        self.flags |= np.bitwise_or.reduce(flags.reshape(nints, m), axis=0)
        own = (prod.dq & ~np.tile(self.pixeldq, nints)).reshape(nints, m)
        self.n_dnu += np.count_nonzero((own & DNU) != 0, axis=0)
        self.n_sat += np.count_nonzero((own & SAT) != 0, axis=0)

    def products(self, nints: int) -> tuple[F64, F64, U32, F64, F64]:
        """(rate, err, dq, var_poisson, var_rnoise)."""
        dq = self.pixeldq | (self.flags & CARRIED)
        for count, flag in ((self.n_dnu, DNU), (self.n_sat, SAT)):
            dq[count == nints] |= flag
        with np.errstate(divide="ignore", invalid="ignore"):
            var_p = 1.0 / self.inv_p
            var_r = 1.0 / self.inv_r
        var_p[~(var_p < LARGE_VARIANCE)] = 0.0  # also 1/0 and NaN; the sum is never negative
        var_r[~(var_r < LARGE_VARIANCE)] = 0.0
        err = np.sqrt(var_p + var_r)
        slope = self.slope_r * var_r
        invalid = np.flatnonzero(dq & INVALID)
        slope[invalid] = np.nan
        for arr in (var_p, var_r, err):
            arr[invalid] = 0.0
        dq |= self.flags & SAT
        return slope, err, dq, var_p, var_r
