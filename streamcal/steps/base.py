"""What every step shares: the block of ramp it works on, the exposure context, and its outcome.

Stage 1 streams the ramp in row blocks (each with a halo of rows above and below, so that box growth and
neighbour flags crossing a block edge are right). A step is a frozen parameter dataclass with declared
reference types and an ``apply(block, ctx)`` that returns a :class:`StepOutcome` — the same type whether it
ran or was skipped. Steps do no I/O: references come from the context, already read and cut to the
subarray; a step that needs a whole-exposure quantity (the reference-pixel correction, the averaged dark)
computes it once in ``prepare`` and keeps it in the context.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from streamcal.models.keywords import header_int
from streamcal.references import ReferenceFile, References, RefType

__all__ = [
    "STATUS_KEYWORDS",
    "ExposureContext",
    "RampBlock",
    "RampStep",
    "StepOutcome",
    "StepRecord",
    "StepStatus",
]

T = TypeVar("T")

#: The S_* keyword jwst writes for each step.
STATUS_KEYWORDS = {
    "group_scale": "S_GRPSCL", "dq_init": "S_DQINIT", "emicorr": "S_EMICOR", "saturation": "S_SATURA",
    "ipc": "S_IPC", "firstframe": "S_FRSTFR", "lastframe": "S_LASTFR", "reset": "S_RESET",
    "superbias": "S_SUPERB", "refpix": "S_REFPIX", "linearity": "S_LINEAR", "rscd": "S_RSCD",
    "dark_current": "S_DARK", "charge_migration": "S_CHGMIG", "jump": "S_JUMP", "picture_frame": "S_PICFRM",
    "clean_flicker_noise": "S_CLNFNS", "persistence": "S_PERSIS", "ramp_fit": "S_RAMP", "gain_scale": "S_GANSCL",
    "guider_cds": "S_GUICDS", "flat_field": "S_FLAT",
    # stage 2 and 3
    "bkg_subtract": "S_BKDSUB", "assign_wcs": "S_WCS", "photom": "S_PHOTOM", "resample": "S_RESAMP",
    "tweakreg": "S_TWKREG", "skymatch": "S_SKYMAT", "outlier_detection": "S_OUTLIR", "source_catalog": "S_SRCCAT",
    "wfs_combine": "S_WFSCOM",
}


class StepStatus(enum.StrEnum):
    COMPLETE = "COMPLETE"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one step did to one exposure: status, time, references used, counts, and why if skipped."""

    name: str
    status: StepStatus
    seconds: float = 0.0
    references: tuple[tuple[RefType, str], ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": str(self.status), "seconds": round(self.seconds, 4),
                "references": {str(k): v for k, v in self.references}, "counts": dict(self.counts),
                "note": self.note}


@dataclass(frozen=True, slots=True)
class StepOutcome(Generic[T]):
    """The one return type of ``apply``: the (new) model, whether the step ran, and its provenance."""

    model: T
    status: StepStatus
    references_used: tuple[tuple[RefType, str], ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""


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
        values = {"data": self.data, "groupdq": self.groupdq, "pixeldq": self.pixeldq, "rows": self.rows,
                  "cols": self.cols}
        values.update(changes)
        return RampBlock(**values)  # type: ignore[arg-type]


@dataclass
class ExposureContext:
    """Everything steps may read about the exposure being processed (one per exposure, one process)."""

    header: Mapping[str, object]
    shape: tuple[int, int, int, int]
    refs: References
    prepared: dict[str, object] = field(default_factory=dict)

    @property
    def nframes(self) -> int:
        return header_int(self.header, "NFRAMES", default=1)

    @property
    def groupgap(self) -> int:
        return header_int(self.header, "GROUPGAP", default=0)

    @property
    def instrument(self) -> str:
        return str(self.header.get("INSTRUME", "")).upper()

    @property
    def is_miri(self) -> bool:
        return self.instrument == "MIRI"

    def ref(self, reftype: RefType) -> ReferenceFile:
        """The reference for this exposure; raises MissingReferenceError naming what was asked for."""
        return self.refs.require(reftype)

    def ref_tile(self, reftype: RefType, ext: str, block: RampBlock) -> np.ndarray:
        """The block's tile of a 2-D (or of the last two axes of a larger) reference array, read-only."""
        return self.ref(reftype).read(ext, block.rows, block.cols)


class RampStep(Protocol):
    """A stage-1 step working on row blocks."""

    name: ClassVar[str]
    reference_types: ClassVar[tuple[RefType, ...]]
    halo: ClassVar[int]

    def prepare(self, ctx: ExposureContext, edges: object) -> None: ...

    def apply(self, block: RampBlock, ctx: ExposureContext) -> StepOutcome[RampBlock]: ...
