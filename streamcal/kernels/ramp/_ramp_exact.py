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
from streamcal.kernels.ramp import _ramp_dq
from streamcal.kernels.ramp._ramp_general import fit_general
from streamcal.kernels.ramp._ramp_output import Exposure, Products, integration_products
from streamcal.kernels.ramp._ramp_segments import PixelInfo, fit_simple

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
    """Fit pixels ``values``/``gdq`` of shape ``(nints, ngroups, m)``; return products and the general-path count.

    Every per-integration step works column by column, so all integrations are fitted in one call on
    ``(ngroups, nints·m)`` stacks (column ``i·m + p`` is integration ``i`` of pixel ``p``), with the per-pixel
    constants tiled; only the exposure sums run integration by integration (their rounding depends on the order).
    """
    nints, ngroups, m = values.shape
    cols = np.ascontiguousarray(values.transpose(1, 0, 2)).reshape(ngroups, -1)
    raw = np.ascontiguousarray(gdq.transpose(1, 0, 2)).reshape(ngroups, -1)
    idq = _ramp_dq.summarize(raw, suppress_one_group=setup.suppress_one_group)
    info = base._replace(median_rate=_median_rate(cols, raw, idq, setup, nints))
    tiled = PixelInfo(*(np.tile(a, nints) for a in info))
    prod, n_general = _fit_integration(cols, raw, idq, tiled, np.tile(pixeldq, nints), setup)
    exposure = Exposure.start(pixeldq)
    exposure.add_all(prod, idq, nints)
    dq_ints = prod.dq | np.where(idq.any_sat, np.uint32(Pixel.SATURATED), np.uint32(0))
    rate, err, dq, var_p, var_r = exposure.products(nints)
    f32, per_int = np.float32, (nints, m)
    return Outputs(
        rate.astype(f32), err.astype(f32), dq, var_p.astype(f32), var_r.astype(f32),
        prod.slope.reshape(per_int).astype(f32), prod.err.reshape(per_int).astype(f32),
        dq_ints.reshape(per_int).astype(np.uint32), prod.var_p.reshape(per_int).astype(f32),
        prod.var_r.reshape(per_int).astype(f32),
    ), n_general


def _median_rate(cols: F32, raw: U8, idq: _ramp_dq.IntegrationDQ, setup: Setup, nints: int) -> F64:
    """Mean over integrations of stcal's per-integration median rate, shape ``(m,)``.

    ``cols``/``raw``/``idq`` are the integration-major column stacks of :func:`fit_exact`.
    """
    ngroups, m = cols.shape[0], cols.shape[1] // nints
    if ngroups == 1:
        # stcal: the mean of group 0 over the one-group time; a saturated group (NaN there) makes it NaN.
        first = np.where((raw[0] & Pixel.SATURATED) != 0, np.nan, cols[0].astype(np.float64)).reshape(nints, m)
        return first.sum(axis=0) / setup.one_group_time / nints
    rates = _ramp_dq.median_rate(cols, raw, idq, group_time=setup.group_time, one_group_time=setup.one_group_time,
                                 pairs=None)
    total = np.zeros(m)
    for row in rates.reshape(nints, m):  # integration by integration, as before batching
        total += row
    return total / nints


def _fit_integration(values: F32, raw: U8, idq: _ramp_dq.IntegrationDQ, info: PixelInfo, pixeldq: U32,
                     setup: Setup) -> tuple[Products, int]:
    """Columns of ramps (any integrations): single-segment ramps from group 0 by table, the rest by the general path."""
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
