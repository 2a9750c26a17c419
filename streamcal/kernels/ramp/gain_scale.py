"""gain_scale: rescale rates measured in a non-standard gain setting (jwst_spec.md §4.11).

SCI and ERR are multiplied by GAINFACT, VAR_POISSON and VAR_RNOISE by GAINFACT². Source: jwst ``gain_scale``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["GainScaleResult", "scale_gain"]


class GainScaleResult(NamedTuple):
    sci: npt.NDArray[np.float32]
    err: npt.NDArray[np.float32]
    var_poisson: npt.NDArray[np.float32]
    var_rnoise: npt.NDArray[np.float32]


def scale_gain(
    sci: npt.ArrayLike, err: npt.ArrayLike, var_poisson: npt.ArrayLike, var_rnoise: npt.ArrayLike, *, gainfact: float
) -> GainScaleResult:
    """Multiply rate-like arrays by ``gainfact`` and variances by its square (any shape; new arrays)."""
    g = np.float32(gainfact)
    return GainScaleResult(
        np.asarray(sci, np.float32) * g,
        np.asarray(err, np.float32) * g,
        np.asarray(var_poisson, np.float32) * (g * g),
        np.asarray(var_rnoise, np.float32) * (g * g),
    )
