"""Steps: frozen parameter dataclasses with declared reference types and one ``apply`` each.

:mod:`.base` holds the one step model every stage shares; the steps themselves live by the data they
transform: :mod:`.ramp` (stage 1), :mod:`.image` (stage 2 on one exposure), :mod:`.combine` (stage 3 on an
association's exposures).
"""

from __future__ import annotations

from streamcal.steps.base import (
    STATUS_KEYWORDS,
    Context,
    NoReferences,
    Preparable,
    Step,
    StepOutcome,
    StepRecord,
    StepStatus,
)

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
