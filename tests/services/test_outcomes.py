"""The one exception → outcome mapping (services/outcomes.py)."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest

from services.outcomes import Ignored, Outcome, classify, outcome_of
from streamcal.errors import (
    CorruptFileError,
    DeadLetterReason,
    MalformedEventError,
    MissingReferenceError,
    ReferenceUnavailableError,
    UnknownExposureTypeError,
)


@pytest.mark.parametrize(("exc", "outcome", "reason"), [
    (None, Outcome.SUCCESS, None),
    (Ignored("level-2 ASN"), Outcome.IGNORED, None),
    (UnknownExposureTypeError("NRC_BOGUS"), Outcome.DEAD_LETTER, DeadLetterReason.UNKNOWN_EXP_TYPE),
    (CorruptFileError("truncated"), Outcome.DEAD_LETTER, DeadLetterReason.CORRUPT_FILE),
    (MissingReferenceError("no dark"), Outcome.DEAD_LETTER, DeadLetterReason.REFERENCE_MISSING),
    (ReferenceUnavailableError("nfs hiccup"), Outcome.RETRY, DeadLetterReason.REFERENCE_UNAVAILABLE),
    (MalformedEventError("junk"), Outcome.DEAD_LETTER, DeadLetterReason.MALFORMED_EVENT),
    (TimeoutError("slow"), Outcome.RETRY, DeadLetterReason.TIMEOUT),
    (BrokenProcessPool("killed"), Outcome.RETRY, DeadLetterReason.INTERNAL),
    (FileNotFoundError("gone"), Outcome.RETRY, DeadLetterReason.INTERNAL),
    (ZeroDivisionError("bug"), Outcome.DEAD_LETTER, DeadLetterReason.INTERNAL),
])
def test_classify(exc, outcome, reason):
    """1. The error tree's policy decides: retriable → RETRY, else DEAD_LETTER with its reason; bugs too."""
    result = classify(exc)
    assert result.outcome is outcome
    assert result.reason == reason
    if exc is not None and not isinstance(exc, Ignored):
        assert type(exc).__name__ in result.error


async def test_outcome_of_catches_everything_but_cancellation():
    """2. outcome_of is the catch-all: it classifies errors and lets cancellation through."""

    async def bug() -> None:
        raise KeyError("oops")

    result, exc = await outcome_of(bug)
    assert result.outcome is Outcome.DEAD_LETTER and isinstance(exc, KeyError)

    async def ok() -> None:
        return None

    assert (await outcome_of(ok))[0].outcome is Outcome.SUCCESS
