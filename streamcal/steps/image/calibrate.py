"""The calibrating steps of calwebb_image2 (``jwst_spec.md`` §5.1–5.4) on one exposure's image or cube.

Each binds the kernels of :mod:`streamcal.kernels.image.calibrate` and :mod:`~streamcal.kernels.image.flat_field` to
the exposure's references:
bkg_subtract (only when the exposure has background members: :attr:`ImageContext.backgrounds`), assign_wcs
(the distortion-free TAN WCS), flat_field (FLAT), photom (PHOTOM, and AREA when the store has one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from streamcal.kernels.image.calibrate import BackgroundParams, assign_wcs, photom, subtract_background
from streamcal.kernels.image.flat_field import flat_field
from streamcal.models.image import ImageData
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = ["AssignWcsStep", "BkgSubtractStep", "FlatFieldStep", "ImageContext", "PhotomStep"]

_DONE = StepStatus.COMPLETE


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageContext(Context):
    """One exposure of stage 2: its header and references, and its background members (read by the pipeline
    from its level-2 association; none for a plain ``_rate`` file)."""

    backgrounds: tuple[ImageData, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BkgSubtractStep(BackgroundParams):
    """Subtracts the sigma-clipped mean of the exposure's background members (skipped when it has none)."""

    name: ClassVar[str] = "bkg_subtract"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, image: ImageData, ctx: ImageContext) -> StepOutcome[ImageData]:
        if not ctx.backgrounds:
            return StepOutcome.skipped(image, "no background members")
        out = subtract_background(image, ctx.backgrounds, sigma=self.sigma, maxiters=self.maxiters)
        return StepOutcome(out.image, _DONE, counts=out.counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignWcsStep:
    """The distortion-free TAN WCS of the pointing keywords (§5.1): ``image.wcs``, WCS keywords, S_REGION."""

    name: ClassVar[str] = "assign_wcs"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, image: ImageData, ctx: ImageContext) -> StepOutcome[ImageData]:
        return StepOutcome(assign_wcs(image), _DONE, note="TAN projection only: detector distortion ignored")


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatFieldStep:
    """Divides by the FLAT reference and propagates the variances (§5.3)."""

    name: ClassVar[str] = "flat_field"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.FLAT,)

    def apply(self, image: ImageData, ctx: ImageContext) -> StepOutcome[ImageData]:
        flat = ctx.refs.require(RefType.FLAT)
        out = flat_field(image, flat["SCI"], flat.arrays.get("ERR"), flat.arrays.get("DQ"))
        return StepOutcome(out.image, _DONE, ((RefType.FLAT, flat.name),), out.counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotomStep:
    """DN/s → MJy/sr with the PHOTOM row of the exposure's optical path; attaches the AREA map (§5.4)."""

    name: ClassVar[str] = "photom"
    reference_types: ClassVar[tuple[RefType, ...]] = (RefType.PHOTOM,)

    def apply(self, image: ImageData, ctx: ImageContext) -> StepOutcome[ImageData]:
        table = ctx.refs.require(RefType.PHOTOM)
        area = ctx.refs.get(RefType.AREA)
        used = ((RefType.PHOTOM, table.name),) + (() if area is None else ((RefType.AREA, area.name),))
        out = photom(image, table["PHOTOM"], None if area is None else area["SCI"],
                     None if area is None else area.header, photom_header=table.header, reference=table.name)
        return StepOutcome(out.image, _DONE, used)
