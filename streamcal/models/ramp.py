"""Ramp models: a tile of a raw ramp as stage 1 calibrates it, its rates after ramp fitting, guider rates.

Stage 1 streams the ramp in tiles (row blocks, or tiles split along x for long TSO ramps), each with a halo
of pixels around it so that box growth and neighbour flags crossing a tile edge are right. A
:class:`RampBlock` is one such tile; ramp fitting turns it into a :class:`RateBlock`. Guider data are small
and calibrated whole: :class:`GuiderRates` is what ``guider_cds`` makes of a whole ramp.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # a NamedTuple of arrays; models sit below the kernels, so only for the annotation
    from streamcal.kernels.ramp.ramp_fit import RampFitResult

__all__ = ["DmsEdges", "GuiderRates", "RampBlock", "RateBlock"]


@dataclass(frozen=True, slots=True)
class RampBlock:
    """A tile of a ramp — rows ``rows`` and columns ``cols`` of the full array, halo included — with its DQ.

    ``data`` (nints, ngroups, nrows, ncols) float32 DN; ``groupdq`` uint8 of the same shape; ``pixeldq``
    (nrows, ncols) uint32.
    """

    data: npt.NDArray[np.float32]
    groupdq: npt.NDArray[np.uint8]
    pixeldq: npt.NDArray[np.uint32]
    rows: slice
    cols: slice = field(default_factory=lambda: slice(None))

    def replace(self, **changes: object) -> RampBlock:
        """A copy with some fields replaced (arrays are shared, never modified)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RateBlock:
    """Rates of the tile ``rows``/``cols``: the exposure-level (``rate``) and per-integration (``ints``)
    ramp-fit products, and the pixel DQ of the ramp they came from."""

    fit: RampFitResult
    pixeldq: npt.NDArray[np.uint32]
    rows: slice
    cols: slice = field(default_factory=lambda: slice(None))


@dataclass(frozen=True, slots=True)
class GuiderRates:
    """Guider count rates: SCI/ERR ``(nints', ny, nx)`` DN/s and the pixel DQ ``(ny, nx)``."""

    rate: npt.NDArray[np.float32]
    err: npt.NDArray[np.float32]
    dq: npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class DmsEdges:
    """Raw edge rows and columns of a ramp as read from the file (DMS orientation, nothing applied yet)."""

    rows: np.ndarray  # row indices (the first and last 4)
    cols: np.ndarray  # column indices
    row_data: np.ndarray  # (nints, ngroups, len(rows), nx) float32 DN
    col_data: np.ndarray  # (nints, ngroups, ny, len(cols)) float32 DN
    pixeldq: np.ndarray  # (ny, nx) uint32 from the file (zeros if absent)
