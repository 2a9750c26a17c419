"""Time-series steps (calwebb_tso3, issue 12)."""

from streamcal.steps.tso.series import TsoSeries, WhiteLight
from streamcal.steps.tso.steps import (
    TsoExtract1dStep,
    TsoOutlierDetectionStep,
    TsoPhotometryStep,
    WhiteLightStep,
    target_position,
)

__all__ = ["TsoExtract1dStep", "TsoOutlierDetectionStep", "TsoPhotometryStep", "TsoSeries", "WhiteLight",
           "WhiteLightStep", "target_position"]
