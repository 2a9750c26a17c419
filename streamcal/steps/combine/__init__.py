"""Combining steps (stage 3): an association's exposures (an :class:`~streamcal.models.image.ImageSet`) → one
product: calwebb_image3's alignment, sky matching, outlier flagging, mosaic and catalogue; calwebb_wfs-image3's
dither-pair combination."""

from __future__ import annotations

from streamcal.steps.combine.mosaic import (
    AssignMtwcsStep,
    MosaicStep,
    OutlierDetectionStep,
    SkyMatchStep,
    SourceCatalogStep,
    TweakRegStep,
)
from streamcal.steps.combine.wfs_combine import WfsCombineStep

__all__ = [
    "AssignMtwcsStep",
    "MosaicStep",
    "OutlierDetectionStep",
    "SkyMatchStep",
    "SourceCatalogStep",
    "TweakRegStep",
    "WfsCombineStep",
]
