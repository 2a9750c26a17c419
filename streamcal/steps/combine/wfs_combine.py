"""calwebb_wfs-image3's one step: WfsCombineStep on a WFS&C dither pair (``jwst_spec.md`` §1.11, §5.13)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from streamcal.errors import ConfigError
from streamcal.kernels.image.wfs_combine import combine_pair
from streamcal.models.image import ImageData, ImageSet
from streamcal.references import RefType
from streamcal.steps.base import Context, StepOutcome, StepStatus

__all__ = ["WfsCombineStep"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WfsCombineStep:
    """Combines the pair into one image (:func:`~streamcal.kernels.image.wfs_combine.combine_pair`); the result
    carries the WCS of the image it was registered to. Parameters and defaults are jwst's."""

    name: ClassVar[str] = "wfs_combine"
    reference_types: ClassVar[tuple[RefType, ...]] = ()
    do_refine: bool = False
    flip_dithers: bool = True
    psf_size: int = 100
    blur_size: int = 10
    n_size: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("do_refine", "flip_dithers"):
                if not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < (0 if f.name == "n_size" else 1):
                raise ConfigError(f"{f.name} must be a positive integer, not {value!r}")

    def apply(self, pair: ImageSet, ctx: Context) -> StepOutcome[ImageData]:
        one, two = pair.images
        if one.wcs is None or two.wcs is None:
            raise ValueError("wfs_combine needs the WCS of both images")
        result = combine_pair(one, two, wcs1=one.wcs, wcs2=two.wcs, do_refine=self.do_refine,
                              flip_dithers=self.flip_dithers, psf_size=self.psf_size, blur_size=self.blur_size,
                              n_size=self.n_size)
        image = result.image.replace(wcs=two.wcs if result.swapped else one.wcs)
        return StepOutcome(image, StepStatus.COMPLETE,
                           counts={"dx": result.dx, "dy": result.dy, "swapped": int(result.swapped)})
