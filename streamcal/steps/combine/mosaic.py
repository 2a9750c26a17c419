"""calwebb_image3's steps (``jwst_spec.md`` §1.6): an association's exposures → aligned, sky-matched,
outlier-flagged images → a drizzled mosaic → its source catalogue.

Each binds a kernel of :mod:`streamcal.kernels.image` to the association; the parameters are the kernels'
(the step classes extend their parameter dataclasses). Steps that need several exposures record SKIPPED, saying
so, on a one-exposure association, as jwst's do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from streamcal.errors import ConfigError, MissingReferenceError
from streamcal.kernels.image.catalog import CatalogParams, CatalogResult, select_apcorr, source_catalog
from streamcal.kernels.image.outlier import OutlierParams, flag_outliers
from streamcal.kernels.image.resample import Mosaic, ResampleParams, resample
from streamcal.kernels.image.skymatch import SkyMatchParams, match_sky
from streamcal.kernels.image.tweakreg import TweakRegParams, apply_alignment, tweakreg
from streamcal.models.image import ImageSet
from streamcal.models.keywords import header_float, header_str
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = [
    "AssignMtwcsStep",
    "MosaicStep",
    "OutlierDetectionStep",
    "SkyMatchStep",
    "SourceCatalogStep",
    "TweakRegStep",
]

_DONE = StepStatus.COMPLETE


def _moving(ctx: Context) -> bool:
    return (header_str(ctx.header, "TARGTYPE") or "") == "MOVING"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignMtwcsStep:
    """Moving-target WCS: not implemented; recorded as skipped with the reason (fixed targets never need it)."""

    name: ClassVar[str] = "assign_mtwcs"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, images: ImageSet, ctx: Context) -> StepOutcome[ImageSet]:
        if len(images) < 2:
            return StepOutcome.skipped(images, "a single exposure")
        return StepOutcome.skipped(images, "moving-target WCS is not implemented in streamcal" if _moving(ctx)
                                   else "fixed target")


@dataclass(frozen=True, slots=True, kw_only=True)
class TweakRegStep(TweakRegParams):
    """Relative alignment (:func:`~streamcal.kernels.image.tweakreg.tweakreg`); each image gets its corrected WCS."""

    name: ClassVar[str] = "tweakreg"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, images: ImageSet, ctx: Context) -> StepOutcome[ImageSet]:
        if len(images) < 2:
            return StepOutcome.skipped(images, "a single exposure")
        if _moving(ctx):
            return StepOutcome.skipped(images, "moving target: jwst runs assign_mtwcs instead")
        fits = tweakreg(images.pairs(), params=self)
        aligned = [apply_alignment(img, fit).replace(wcs=fit.wcs) for img, fit in zip(images.images, fits, strict=True)]
        return StepOutcome(images.replace_images(aligned), _DONE,
                           counts={"matched": sum(f.n_matched for f in fits),
                                   "unaligned": sum(not f.fitted for f in fits)})


@dataclass(frozen=True, slots=True, kw_only=True)
class SkyMatchStep(SkyMatchParams):
    """Sky levels (BKGLEVEL) matched between the exposures, or measured globally/locally (§5.7)."""

    name: ClassVar[str] = "skymatch"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, images: ImageSet, ctx: Context) -> StepOutcome[ImageSet]:
        if len(images) < 2 and self.skymethod == "match":
            return StepOutcome.skipped(images, "one exposure has nothing to match")
        return StepOutcome(images.replace_images(match_sky(images.pairs(), params=self).images), _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlierDetectionStep(OutlierParams):
    """Flags outliers against the median of the other exposures (§5.6)."""

    name: ClassVar[str] = "outlier_detection"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, images: ImageSet, ctx: Context) -> StepOutcome[ImageSet]:
        if len(images) < 2:
            return StepOutcome.skipped(images, "a single exposure")
        found = flag_outliers(images.pairs(), params=self)
        return StepOutcome(images.replace_images(found.images), _DONE,
                           counts={"outliers": int(sum(found.n_flagged))})


@dataclass(frozen=True, slots=True, kw_only=True)
class MosaicStep(ResampleParams):
    """Drizzles the exposures onto one grid (§5.5): the ``_i2d`` mosaic, with the first exposure's photometry."""

    name: ClassVar[str] = "resample"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, images: ImageSet, ctx: Context) -> StepOutcome[Mosaic]:
        mosaic = resample(images.pairs(), params=self)
        mosaic = dataclasses.replace(mosaic, sci_header=mosaic.header(self, reference=images.images[0]))
        return StepOutcome(mosaic, _DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceCatalogStep(CatalogParams):
    """Detects, deblends and measures the sources of the mosaic (photutils; APCORR when the store has one)."""

    name: ClassVar[str] = "source_catalog"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, mosaic: Mosaic, ctx: Context) -> StepOutcome[CatalogResult]:
        apcorr = ctx.refs.get(RefType.APCORR)
        rows = None
        if apcorr is not None:
            filt = header_str(ctx.header, "FILTER") or "N/A"
            pupil = header_str(ctx.header, "PUPIL") or "N/A"
            try:
                rows = select_apcorr(apcorr["APCORR"], filter=filt, pupil=pupil)
            except KeyError as exc:
                raise MissingReferenceError(f"{apcorr.name}: no aperture corrections for FILTER={filt} "
                                            f"PUPIL={pupil}") from exc
        if mosaic.sci_header.get("PIXAR_SR") is None:
            raise ConfigError(f"{ctx.source}: no PIXAR_SR keyword (photom did not run on the stage-2 product?)")
        catalog = source_catalog(mosaic.sci, mosaic.err, mosaic.wcs, apcorr=rows,
                                 pixar_sr=header_float(mosaic.sci_header, "PIXAR_SR"), params=self)
        used = ((RefType.APCORR, apcorr.name),) if apcorr is not None else ()
        return StepOutcome(catalog, _DONE, used, {"sources": len(catalog.table)})
