"""calwebb_image2's resample: a quick-look ``_i2d`` of one calibrated image on its own TAN grid (§5.5).

Only for the 2-D images of MIR/NRC/NIS/FGS_IMAGE exposures, as jwst's Image2Pipeline; the mosaic is not used by
stage 3 (which resamples the ``_cal`` images itself).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from streamcal.kernels.image.resample import Mosaic, ResampleParams, resample
from streamcal.models.image import ImageData
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = ["RESAMPLE_EXP_TYPES", "QuicklookResampleStep"]

#: The EXP_TYPEs whose 2-D cal images get a quick-look ``_i2d`` (jwst Image2Pipeline).
RESAMPLE_EXP_TYPES = frozenset({"MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE", "FGS_IMAGE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class QuicklookResampleStep(ResampleParams):
    """Drizzle one cal image onto its own TAN grid."""

    name: ClassVar[str] = "resample"
    reference_types: ClassVar[tuple[RefType, ...]] = ()

    def apply(self, image: ImageData, ctx: Context) -> StepOutcome[Mosaic]:
        if image.is_cube or ctx.exp_type not in RESAMPLE_EXP_TYPES:
            return StepOutcome.skipped(image, f"no quick-look resample for {ctx.exp_type} {image.sci.ndim}-D "  # type: ignore[arg-type]
                                              "data")
        if image.wcs is None:
            return StepOutcome.skipped(image, "no WCS (assign_wcs skipped)")  # type: ignore[arg-type]
        mosaic = resample([(image, image.wcs)], params=self)
        mosaic = dataclasses.replace(mosaic, sci_header=mosaic.header(self, reference=image))
        return StepOutcome(mosaic, StepStatus.COMPLETE, counts={"n_inputs": int(mosaic.n_inputs)})
