"""calwebb_coron3's steps (issue 12): outlier_detection (mode coron), stack_refs, align_refs, klip, resample."""

from __future__ import annotations

from streamcal.steps.coron.steps import (
    AlignRefsStep,
    CoronOutlierStep,
    CoronResampleStep,
    KlipStep,
    StackRefsStep,
)

__all__ = ["AlignRefsStep", "CoronOutlierStep", "CoronResampleStep", "KlipStep", "StackRefsStep"]
