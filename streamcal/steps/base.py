"""The one step model of every stage: a step, what it is given, and what it returns.

A step is a frozen dataclass whose fields are its parameters (the pars file's ``parameters`` of that step,
checked against the fields when the plan is built), with declared ``reference_types`` and one ``apply``::

    @dataclass(frozen=True, slots=True, kw_only=True)
    class JumpStep:
        name: ClassVar[str] = "jump"
        reference_types: ClassVar[tuple[RefType, ...]] = (RefType.GAIN, RefType.READNOISE)
        rejection_threshold: float = 4.0
        def apply(self, block: RampBlock, ctx: RampContext) -> StepOutcome[RampBlock]: ...

``apply`` is generic over the model it transforms (a ramp tile, an image or cube, a set of images for stage 3,
a mosaic); it does no I/O beyond what its context reads for it (reference arrays), never modifies its input,
and returns a :class:`StepOutcome` — the same type whether it ran or decided it had nothing to do.
``reference_types`` are the references the step cannot run without: the runner asks for every one of them
before the first step runs, so a missing reference fails the exposure before any work. A step that needs a
whole-exposure quantity before it sees its first tile (the reference-pixel correction) has a ``prepare``
that returns the step bound to that quantity (:class:`Preparable`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from streamcal.errors import MissingReferenceError
from streamcal.references import ReferenceFile, References, RefType

if TYPE_CHECKING:
    from streamcal.models.grism import CatalogSource
    from streamcal.models.msa import MsaConfiguration

__all__ = [
    "STATUS_KEYWORDS",
    "Context",
    "NoReferences",
    "Preparable",
    "Step",
    "StepOutcome",
    "StepRecord",
    "StepStatus",
]

M = TypeVar("M")
I_contra = TypeVar("I_contra", contravariant=True)
Out = TypeVar("Out")

#: The S_* keyword jwst writes for each step.
STATUS_KEYWORDS = {
    "group_scale": "S_GRPSCL", "dq_init": "S_DQINIT", "emicorr": "S_MIREMI", "saturation": "S_SATURA",
    "ipc": "S_IPC", "firstframe": "S_FRSTFR", "lastframe": "S_LASTFR", "reset": "S_RESET",
    "superbias": "S_SUPERB", "refpix": "S_REFPIX", "linearity": "S_LINEAR", "rscd": "S_RSCD",
    "dark_current": "S_DARK", "charge_migration": "S_CHGMIG", "jump": "S_JUMP", "picture_frame": "S_PCTFRM",
    "clean_flicker_noise": "S_CLNFNS", "persistence": "S_PERSIS", "ramp_fit": "S_RAMP", "gain_scale": "S_GANSCL",
    "guider_cds": "S_GUICDS", "flat_field": "S_FLAT",
    # stage 2 and 3
    "bkg_subtract": "S_BKDSUB", "assign_wcs": "S_WCS", "photom": "S_PHOTOM", "resample": "S_RESAMP",
    "tweakreg": "S_TWKREG", "skymatch": "S_SKYMAT", "outlier_detection": "S_OUTLIR", "source_catalog": "S_SRCCAT",
    "wfs_combine": "S_WFSCOM",
    # spectroscopy (stdatamodels' core schema)
    "extract_1d": "S_EXTR1D", "extract_2d": "S_EXTR2D", "srctype": "S_SRCTYP", "pathloss": "S_PTHLOS",
    "barshadow": "S_BARSHA", "cube_build": "S_IFUCUB", "imprint_subtract": "S_IMPRNT", "msa_flagging": "S_MSAFLG",
    "wavecorr": "S_WAVCOR", "straylight": "S_STRAY", "fringe": "S_FRINGE", "resample_spec": "S_RESAMP",
    "master_background_mos": "S_MSBSUB", "residual_fringe": "S_RESFRI", "pixel_replace": "S_PXREPL",
    "wfss_contam": "S_CONTAM", "badpix_selfcal": "S_BPXSLF", "targ_centroid": "S_TACNTR",
    "adaptive_trace_model": "S_TRCMOD", "combine_1d": "S_COMB1D", "master_background": "S_MSBSUB",
    "spectral_leak": "S_SPLEAK",
    # AMI (stdatamodels' core schema)
    "ami_analyze": "S_AMIANA", "ami_normalize": "S_AMINOR",
    # coronagraphy (stdatamodels: stack_psfs, align_psfs, klip)
    "stack_refs": "S_PSFSTK", "align_refs": "S_PSFALI", "klip": "S_KLIP",
    # time series (stdatamodels' core schema)
    "tso_photometry": "S_TSPHOT", "white_light": "S_WHTLIT",
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
class StepOutcome(Generic[M]):
    """The one return type of ``apply``: the (new) model, whether the step ran, and its provenance."""

    model: M
    status: StepStatus
    references_used: tuple[tuple[RefType, str], ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def skipped(cls, model: M, note: str) -> StepOutcome[M]:
        """The step looked at ``model`` and had nothing to do (``note`` says why); the model is unchanged."""
        return cls(model, StepStatus.SKIPPED, note=note)


class NoReferences:
    """The references of a pipeline that reads none (calwebb_wfs-image3): every ask finds nothing."""

    def require(self, reftype: RefType) -> ReferenceFile:
        raise MissingReferenceError(f"{reftype}: this pipeline reads no reference files")

    def get(self, reftype: RefType) -> ReferenceFile | None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What every step may read about the exposure it works on (stage 3: the association's first member).

    ``header`` is the primary header, ``refs`` the references selected for it (arrays read-only). ``msa`` is a
    MOS exposure's MSA configuration, read by the pipeline from the MSA metadata file its MSAMETFL names (steps do
    no I/O; :mod:`streamcal.models.msa`); ``grism_sources`` a WFSS exposure's direct-image catalogue, read by the
    pipeline from its level-2 association (:mod:`streamcal.models.grism`).
    """

    header: Mapping[str, object]
    refs: References | NoReferences
    source: str = ""
    msa: MsaConfiguration | None = None
    grism_sources: tuple[CatalogSource, ...] | None = None

    @property
    def exp_type(self) -> str:
        return str(self.header.get("EXP_TYPE", "")).strip().upper()

    @property
    def instrument(self) -> str:
        return str(self.header.get("INSTRUME", "")).strip().upper()

    def used(self, *reftypes: RefType) -> tuple[tuple[RefType, str], ...]:
        """Provenance of references the step used: ``((reftype, file name), ...)``."""
        return tuple((r, self.refs.require(r).name) for r in reftypes)


class Step(Protocol[I_contra, Out]):
    """A step turning a model of one kind (``I``) into a model (``O``, usually the same kind)."""

    name: ClassVar[str]
    reference_types: ClassVar[tuple[RefType, ...]]

    def apply(self, model: I_contra, ctx: Any) -> StepOutcome[Out]: ...


@runtime_checkable
class Preparable(Protocol):
    """A step that computes a whole-exposure quantity once, before its first tile.

    ``prepare`` gets the context and the steps that run before it (already prepared) and returns the step to
    apply — typically a bound copy holding what it computed.
    """

    def prepare(self, ctx: Any, earlier: Sequence[object]) -> Any: ...
