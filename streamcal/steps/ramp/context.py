"""What a ramp step is given besides its tile: the exposure's header, shape and references."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streamcal.models.keywords import header_int
from streamcal.models.ramp import DmsEdges, RampBlock
from streamcal.references import ReferenceFile, RefType
from streamcal.steps.base import Context

__all__ = ["RampContext"]


def _no_edges() -> DmsEdges:
    raise ValueError("this run reads no edges (no step asked for them)")


@dataclass(frozen=True, slots=True, kw_only=True)
class RampContext(Context):
    """One exposure of stage 1: its header and references (from :class:`Context`), the ramp's
    ``(nints, ngroups, ny, nx)`` shape, and a reader of the raw edge rows and columns (reference pixels)."""

    shape: tuple[int, int, int, int]
    read_edges: Callable[[], DmsEdges] = _no_edges

    @property
    def nframes(self) -> int:
        return header_int(self.header, "NFRAMES", default=1)

    @property
    def groupgap(self) -> int:
        return header_int(self.header, "GROUPGAP", default=0)

    @property
    def is_miri(self) -> bool:
        return self.instrument == "MIRI"

    def ref(self, reftype: RefType) -> ReferenceFile:
        """The reference for this exposure; raises MissingReferenceError naming what was asked for."""
        return self.refs.require(reftype)

    def ref_tile(self, reftype: RefType, ext: str, block: RampBlock) -> np.ndarray:
        """The block's tile of a 2-D (or of the last two axes of a larger) reference array, read-only."""
        return self.ref(reftype).read(ext, block.rows, block.cols)
