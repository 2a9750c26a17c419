"""stcal's full ramp-fitting rules for an arbitrary set of pixels (``slope_fitter.c``, see ``ramp_fit``).

:func:`fit_ramps` sends here the pixels the clean path (``_ramp_clean``) cannot take: any group flag in any
integration, NaN data, gain ≤ 0 or NaN, zero read noise, negative dark — typically 1–2 % of a frame. Arrays have
a trailing pixel axis of length ``m``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels import _ramp_dq
from streamcal.kernels._ramp_general import fit_general
from streamcal.kernels._ramp_output import Exposure, Products, integration_products
from streamcal.kernels._ramp_segments import PixelInfo, fit_simple

__all__: list[str] = []

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]


class Setup(NamedTuple):
    """Exposure-wide constants."""

    group_time: float
    one_group_time: float
    suppress_one_group: bool
    table: F32  #: ``_ramp_segments.coefficient_table(ngroups)``
    median_ops: list[tuple[int, int, bool, bool]]


class Outputs(NamedTuple):
    """The ten products: five of shape ``(..., m)`` for the exposure and five ``(nints, ..., m)``."""

    rate: F32
    err: F32
    dq: U32
    var_p: F32
    var_r: F32
    rateints: F32
    err_ints: F32
    dq_ints: U32
    var_p_ints: F32
    var_r_ints: F32


def fit_exact(values: F32, gdq: U8, base: PixelInfo, pixeldq: U32, setup: Setup) -> tuple[Outputs, int]:
    """Fit pixels ``values``/``gdq`` of shape ``(nints, ngroups, m)``; return products and the general-path count."""
    nints = values.shape[0]
    summaries = [_ramp_dq.summarize(gdq[i], suppress_one_group=setup.suppress_one_group) for i in range(nints)]
    info = base._replace(median_rate=_median_rate(values, gdq, summaries, setup))
    exposure = Exposure.start(pixeldq)
    ints: list[list[npt.NDArray[np.generic]]] = [[], [], [], [], []]
    n_general = 0
    for i in range(nints):
        prod, n_gen = _fit_integration(values[i], gdq[i], summaries[i], info, pixeldq, setup)
        n_general += n_gen
        exposure.add(prod, summaries[i])
        dq = prod.dq | np.where(summaries[i].any_sat, np.uint32(Pixel.SATURATED), np.uint32(0))
        for store, value in zip(ints, (prod.slope, prod.err, dq, prod.var_p, prod.var_r), strict=True):
            store.append(value)
    rate, err, dq, var_p, var_r = exposure.products(nints)
    f32 = np.float32
    return Outputs(
        rate.astype(f32), err.astype(f32), dq, var_p.astype(f32), var_r.astype(f32),
        np.stack(ints[0]).astype(f32), np.stack(ints[1]).astype(f32), np.stack(ints[2]).astype(np.uint32),
        np.stack(ints[3]).astype(f32), np.stack(ints[4]).astype(f32),
    ), n_general


def _median_rate(values: F32, gdq: U8, summaries: list[_ramp_dq.IntegrationDQ], setup: Setup) -> F64:
    """Mean over integrations of stcal's per-integration median rate, shape ``(m,)``."""
    nints, ngroups = values.shape[:2]
    if ngroups == 1:
        # stcal: the mean of group 0 over the one-group time; a saturated group (NaN there) makes it NaN.
        first = np.where((gdq[:, 0] & Pixel.SATURATED) != 0, np.nan, values[:, 0].astype(np.float64))
        return first.sum(axis=0) / setup.one_group_time / nints
    total = np.zeros(values.shape[2])
    for i in range(nints):
        total += _ramp_dq.median_rate(values[i], gdq[i], summaries[i], group_time=setup.group_time,
                                      one_group_time=setup.one_group_time, pairs=None)
    return total / nints


def _fit_integration(values: F32, raw: U8, idq: _ramp_dq.IntegrationDQ, info: PixelInfo, pixeldq: U32,
                     setup: Setup) -> tuple[Products, int]:
    """One integration: single-segment ramps starting at group 0 by table, the rest by the general path."""
    tau1 = np.where(idq.only_group0, setup.one_group_time, setup.group_time)
    lead = np.where(idq.simple, idq.lead, 0)
    sums = fit_simple(values, lead, tau1, setup.table, info, group_time=setup.group_time)
    general = np.flatnonzero(~idq.simple | ~np.isfinite(sums.slope_r))
    if general.size:
        part = fit_general(values[:, general], raw[:, general], idq.suppressed[general], tau1[general],
                           PixelInfo(*(a[general] for a in info)), group_time=setup.group_time)
        for full, piece in zip(sums, part, strict=True):
            full[general] = piece
    return integration_products(sums, idq, pixeldq), int(general.size)
