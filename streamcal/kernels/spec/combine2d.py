"""Combination of rectified traces (calwebb_spec3's resample_spec, the combining half; ``jwst_spec.md`` §5.5).

Every member is on the same grid (:func:`streamcal.kernels.spec.rectify.rectify_trace`), so the combination is
pixel by pixel: with jwst's default ``weight_type='ivm'`` each member's pixel is weighted by the inverse of its
read-noise variance (jwst's resample weights by VAR_RNOISE, not the total variance: a weight from the Poisson
variance, which grows with the measured counts, would favour the pixels that fluctuated low and bias the
flux), and ``weight_type='exptime'`` weighs by the members' exposure times. Pixels flagged DO_NOT_USE or not
finite take no part. ``sci = Σ w x / Σ w``; each variance component ``Σ w² var / (Σ w)²`` (exact for
independent members); DQ is the OR of the contributing pixels' flags, plus DO_NOT_USE where none contributed;
WHT is ``Σ w`` and N_INPUT the number of contributing members. The trace centre is the mean of the members'.
Inputs are never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel
from streamcal.kernels.spec.rectify import Rectified

__all__ = ["Combined2D", "combine_rectified"]

F64 = npt.NDArray[np.float64]
_DNU = np.uint32(Pixel.DO_NOT_USE)


class Combined2D(NamedTuple):
    """The combined trace: a :class:`Rectified` plus the summed weight and the contributing-member count."""

    rectified: Rectified
    weight: F64
    n_input: npt.NDArray[np.int32]


def combine_rectified(members: Sequence[Rectified], *, weight_type: str = "ivm",
                      exptimes: Sequence[float] | None = None) -> Combined2D:
    """Combine rectified traces of one grid (see the module docstring).

    Parameters
    ----------
    members : sequence of Rectified
        All of one shape.
    weight_type : {"ivm", "exptime"}
    exptimes : sequence of float, optional
        One per member; needed for ``"exptime"``.

    Raises
    ------
    ValueError
        No member, shapes that differ, an unknown weight type, or exposure times missing or not positive. Not
        retriable.
    """
    if not members:
        raise ValueError("nothing to combine")
    shape = members[0].sci.shape
    if any(m.sci.shape != shape for m in members):
        raise ValueError(f"rectified members differ in shape: {[m.sci.shape for m in members]}")
    if weight_type not in ("ivm", "exptime"):
        raise ValueError(f"weight_type must be 'ivm' or 'exptime', not {weight_type!r}")
    if weight_type == "exptime" and (exptimes is None or len(exptimes) != len(members)
                                     or not all(t > 0 for t in exptimes)):
        raise ValueError("weight_type 'exptime' needs one positive exposure time per member")
    total_w = np.zeros(shape)
    sums = np.zeros(shape)
    var = {k: np.zeros(shape) for k in ("var_poisson", "var_rnoise", "var_flat")}
    dq = np.zeros(shape, np.uint32)
    count = np.zeros(shape, np.int32)
    for i, m in enumerate(members):
        good = ((m.dq & _DNU) == 0) & np.isfinite(m.sci) & np.isfinite(m.variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            if weight_type == "ivm":
                w = np.where(good & (m.var_rnoise > 0), 1.0 / m.var_rnoise, 0.0)
            else:
                w = np.where(good, float(exptimes[i]), 0.0)  # type: ignore[index]
        used = w > 0
        total_w += w
        sums += w * np.where(used, m.sci, 0.0)
        for k in var:
            var[k] += w ** 2 * np.where(used, getattr(m, k), 0.0)
        dq |= np.where(used, m.dq, 0).astype(np.uint32)
        count += used
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(total_w > 0, 1.0 / total_w, np.nan)
    dq[total_w <= 0] |= _DNU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin no member reached stays NaN
        centre = np.nanmean(np.stack([m.centre for m in members]), axis=0)
    combined = Rectified(sci=sums * inv, var_poisson=var["var_poisson"] * inv ** 2,
                         var_rnoise=var["var_rnoise"] * inv ** 2, var_flat=var["var_flat"] * inv ** 2, dq=dq,
                         centre=centre)
    return Combined2D(combined, total_w, count)
