"""guider_cds: count rates of FGS guiding data by correlated double sampling (jwst_spec.md §4.12).

t = TGROUP. ID modes (FGS_ID-STACK/ID-IMAGE, 2 integrations × 2 groups): the smaller of the two
integrations' (G1−G0)/t, one output plane. ACQ1/ACQ2/TRACK: (G1−G0)/t per integration. FINEGUIDE:
(mean of the last 4 groups − mean of the first 4)/t per integration. var_rn = 2 (RN/t)²,
var_p = max(slope, 0)/(gain·t); ERR = sqrt(var_rn + var_p). Source: jwst ``guider_cds`` step docs and
``jwst/guider_cds/guider_cds.py`` (3.0). A FINEGUIDE integration is 4 reads at its start and 4 at its end, so its
TGROUP is the time between the two sets, not between consecutive reads (issue 14).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.kernels.ramp._common import as_f32

__all__ = ["GuiderCDSResult", "guider_cds", "guider_mode"]


class GuiderCDSResult(NamedTuple):
    rate: npt.NDArray[np.float32]  # (nints_out, ny, nx), DN/s
    err: npt.NDArray[np.float32]  # (nints_out, ny, nx)


def guider_mode(exp_type: str) -> str:
    """'id', 'fineguide' or 'cds' for a guider EXP_TYPE."""
    if exp_type.startswith("FGS_ID"):
        return "id"
    return "fineguide" if exp_type == "FGS_FINEGUIDE" else "cds"


def guider_cds(
    data: npt.ArrayLike, *, mode: str, group_time: float, gain: npt.ArrayLike, readnoise: npt.ArrayLike
) -> GuiderCDSResult:
    """Per-integration CDS slopes of guider data.

    Parameters
    ----------
    data : ndarray, shape (nints, ngroups, ny, nx), float32
    mode : {'id', 'cds', 'fineguide'}
        See :func:`guider_mode`.
    group_time : float
        TGROUP in seconds (> 0).
    gain, readnoise : ndarray, shape (ny, nx), float32 (or scalars)

    Returns
    -------
    GuiderCDSResult
    """
    sci = as_f32(data, "data", 4)
    if group_time <= 0:
        raise ValueError(f"TGROUP must be positive, got {group_time}")
    if mode == "fineguide":
        if sci.shape[1] < 8:
            raise ValueError(f"FINEGUIDE needs at least 8 groups, got {sci.shape[1]}")
        diff = sci[:, -4:].mean(axis=1) - sci[:, :4].mean(axis=1)
    elif sci.shape[1] < 2:
        raise ValueError(f"guider CDS needs at least 2 groups, got {sci.shape[1]}")
    else:
        diff = sci[:, 1] - sci[:, 0]
    t = np.float32(group_time)
    rate = diff / t
    if mode == "id":
        rate = rate.min(axis=0, keepdims=True)
    g = np.asarray(gain, np.float32)
    rn = np.asarray(readnoise, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_p = np.where(g > 0, np.clip(rate, 0, None) / (g * t), 0).astype(np.float32)
    var_rn = np.float32(2.0) * (rn / t) ** 2
    return GuiderCDSResult(rate.astype(np.float32), np.sqrt(var_rn + var_p).astype(np.float32))
