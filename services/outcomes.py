"""The one mapping from "what happened" to what the services do about it.

:func:`classify` turns an exception (or ``None``) into an :class:`Outcome` and a dead-letter reason. The
outcome is also the ``outcome`` label of ``streamcal_events_total`` and the reason the label of
``streamcal_deadletters_total``. This module holds the only ``except Exception``-level decision of the
codebase: the consumers catch ``Exception`` around a handler and hand it here, so bad input never stops a
service.

======================================  ============  ==========================
exception                               outcome       reason
======================================  ============  ==========================
None                                    SUCCESS       —
:class:`Ignored`                        IGNORED       —
StreamcalError, ``retriable``           RETRY         its ``reason``
StreamcalError                          DEAD_LETTER   its ``reason``
TimeoutError                            RETRY         timeout
OSError of a full or failing disk       RETRY         storage (never runs out of
(ENOSPC, EDQUOT, EIO, EROFS)                          attempts: see below)
BrokerUnavailableError (a publish the   RETRY         broker (never runs out of
broker did not take)                                  attempts either)
BrokenProcessPool, ConnectionError,     RETRY         internal
other OSError (storage hiccups)
anything else (a bug)                   DEAD_LETTER   internal
======================================  ============  ==========================

A full disk or a broker that is away is not the message's fault and is fixed by an operator (or by the broker
coming back), not by the sender — and a dead letter could not be published either: the consumer retries a
``storage`` or ``broker`` error with its backoff for as long as it takes (logging each attempt, the inflight and
last-success metrics showing the stall) instead of dead-lettering the work after ``max_attempts``
(:mod:`services.consumer`).
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from services.bus.base import BrokerUnavailableError
from streamcal.errors import DeadLetterReason, StreamcalError

__all__ = ["STORAGE_ERRNOS", "UNBOUNDED_RETRY", "Classified", "Ignored", "Outcome", "classify", "describe",
           "outcome_of"]

#: OSError numbers of storage that cannot take a write now: retried until it can.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
#: Retry reasons that never run out of attempts: the work waits for the disk or the broker to come back.
UNBOUNDED_RETRY = frozenset({DeadLetterReason.STORAGE, DeadLetterReason.BROKER})


class Outcome(enum.StrEnum):
    """What a consumer does with a message after handling it."""

    SUCCESS = "success"
    IGNORED = "ignored"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class Ignored(Exception):
    """Raised by a handler for valid input that has nothing to do (e.g. a level-2 ASN file, a duplicate)."""


@dataclass(frozen=True, slots=True)
class Classified:
    """An outcome and, for RETRY and DEAD_LETTER, the dead-letter reason and the error text."""

    outcome: Outcome
    reason: DeadLetterReason | None = None
    error: str = ""


def describe(exc: BaseException) -> str:
    """``Type: message`` plus any notes, on one line."""
    text = f"{type(exc).__name__}: {exc}"
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += " (" + "; ".join(str(n) for n in notes) + ")"
    return text


def classify(exc: BaseException | None) -> Classified:
    """Map an exception to an outcome.

    Parameters
    ----------
    exc : BaseException or None
        What the handler raised, or None when it returned.

    Returns
    -------
    Classified
    """
    if exc is None:
        return Classified(Outcome.SUCCESS)
    if isinstance(exc, Ignored):
        return Classified(Outcome.IGNORED, None, str(exc))
    text = describe(exc)
    if isinstance(exc, StreamcalError):
        return Classified(Outcome.RETRY if exc.retriable else Outcome.DEAD_LETTER, exc.reason, text)
    if isinstance(exc, TimeoutError):
        return Classified(Outcome.RETRY, DeadLetterReason.TIMEOUT, text)
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return Classified(Outcome.RETRY, DeadLetterReason.STORAGE, text)
    if isinstance(exc, BrokerUnavailableError):
        return Classified(Outcome.RETRY, DeadLetterReason.BROKER, text)
    if isinstance(exc, BrokenProcessPool | ConnectionError | OSError):
        return Classified(Outcome.RETRY, DeadLetterReason.INTERNAL, text)
    return Classified(Outcome.DEAD_LETTER, DeadLetterReason.INTERNAL, text)


async def outcome_of(call: Callable[[], Awaitable[object]]) -> tuple[Classified, BaseException | None]:
    """Await ``call()`` and classify how it ended; the one place that catches ``Exception``.

    Cancellation (``asyncio.CancelledError``, a ``BaseException``) is never caught: a drained or killed
    service leaves the message uncommitted, to be redelivered.
    """
    try:
        await call()
    except Exception as exc:  # the single catch-all of the codebase: bad input never stops a service
        return classify(exc), exc
    return classify(None), None
