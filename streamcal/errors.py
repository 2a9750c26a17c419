"""The one error tree of streamcal.

Every error raised on purpose by the calibration core is a :class:`StreamcalError`. Each class carries its
policy: the dead-letter ``reason`` it maps to and whether a retry can help (``retriable``). Each also
subclasses the builtin it naturally is, so callers that only know Python still catch it sensibly.

::

    StreamcalError (Exception)                       internal, not retriable
    ├── InvalidInputError (ValueError)               invalid_input
    │   ├── UnknownExposureTypeError                 unknown_exp_type
    │   ├── MissingKeywordError (+ KeyError)         missing_keyword
    │   ├── BadKeywordValueError                     bad_keyword
    │   ├── CorruptFileError                         corrupt_file
    │   │   └── NotFitsError                         corrupt_file
    │   ├── BadDataShapeError                        bad_shape
    │   ├── MosaicTooLargeError                      invalid_input
    │   ├── AssociationError                         bad_association
    │   ├── MalformedEventError                      malformed_event
    │   ├── ForbiddenPathError                       forbidden_path
    │   └── NotRegularFileError                      invalid_input
    ├── ConfigError (ValueError)                     config (a startup error, never a dead letter)
    │   └── UnknownPipelineError (+ KeyError)        config
    ├── MissingReferenceError (LookupError)          reference_missing
    └── ReferenceUnavailableError (OSError)          reference_unavailable, retriable

``services`` maps an exception to an outcome with one function (``services.outcomes.classify``); the
calibration core never decides how to deliver.
"""

from __future__ import annotations

import enum
from typing import ClassVar

__all__ = [
    "AssociationError",
    "BadDataShapeError",
    "BadKeywordValueError",
    "ConfigError",
    "CorruptFileError",
    "DeadLetterReason",
    "ForbiddenPathError",
    "InvalidInputError",
    "MalformedEventError",
    "MissingKeywordError",
    "MissingReferenceError",
    "MosaicTooLargeError",
    "NotFitsError",
    "NotRegularFileError",
    "PoolError",
    "ReferenceUnavailableError",
    "StreamcalError",
    "UnknownExposureTypeError",
    "UnknownPipelineError",
]


class DeadLetterReason(enum.StrEnum):
    """Why a piece of work ended as a dead letter; also a low-cardinality metric label."""

    INTERNAL = "internal"
    INVALID_INPUT = "invalid_input"
    UNKNOWN_EXP_TYPE = "unknown_exp_type"
    MISSING_KEYWORD = "missing_keyword"
    BAD_KEYWORD = "bad_keyword"
    CORRUPT_FILE = "corrupt_file"
    BAD_SHAPE = "bad_shape"
    BAD_ASSOCIATION = "bad_association"
    CONFIG = "config"
    REFERENCE_MISSING = "reference_missing"
    REFERENCE_UNAVAILABLE = "reference_unavailable"
    MALFORMED_EVENT = "malformed_event"
    FORBIDDEN_PATH = "forbidden_path"
    TIMEOUT = "timeout"
    STORAGE = "storage"
    BROKER = "broker"


class StreamcalError(Exception):
    """Base of every error streamcal raises on purpose."""

    reason: ClassVar[DeadLetterReason] = DeadLetterReason.INTERNAL
    retriable: ClassVar[bool] = False


class InvalidInputError(StreamcalError, ValueError):
    """The input itself is wrong; retrying the same input gives the same error."""

    reason = DeadLetterReason.INVALID_INPUT


class UnknownExposureTypeError(InvalidInputError):
    """EXP_TYPE is absent from the routing table (or absent from the header)."""

    reason = DeadLetterReason.UNKNOWN_EXP_TYPE

    def __init__(self, exp_type: object, source: str | None = None) -> None:
        where = f" in {source}" if source else ""
        if exp_type is None:
            message = f"EXP_TYPE is missing{where}; cannot route the exposure"
        else:
            message = f"unknown EXP_TYPE {exp_type!r}{where}: not in the routing table"
        super().__init__(message)
        self.exp_type = exp_type
        self.source = source


class MissingKeywordError(InvalidInputError, KeyError):
    """A header keyword the code needs is absent (``message`` replaces the standard sentence when the caller
    says more, e.g. which of two keywords would do)."""

    reason = DeadLetterReason.MISSING_KEYWORD

    def __init__(self, keyword: str, source: str | None = None, hdu: str = "PRIMARY", *,
                 message: str | None = None) -> None:
        where = f" of {source}" if source else ""
        super().__init__(message or f"keyword {keyword} is missing from the {hdu} header{where}")
        self.keyword = keyword
        self.source = source
        self.hdu = hdu

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class BadKeywordValueError(InvalidInputError):
    """A header keyword is present but its value is unusable."""

    reason = DeadLetterReason.BAD_KEYWORD


class CorruptFileError(InvalidInputError):
    """The file cannot be read as the product it claims to be (truncated, no SCI, bad header)."""

    reason = DeadLetterReason.CORRUPT_FILE


class NotFitsError(CorruptFileError):
    """The file is not a FITS file at all."""


class BadDataShapeError(InvalidInputError):
    """An array has the wrong number of dimensions, an absurd size, or disagrees with the header."""

    reason = DeadLetterReason.BAD_SHAPE


class MosaicTooLargeError(InvalidInputError):
    """The output grid the input WCSs ask for is absurdly large (almost always bad pointing keywords)."""


class AssociationError(InvalidInputError):
    """An association (ASN) file is malformed or names members that cannot be used."""

    reason = DeadLetterReason.BAD_ASSOCIATION


class PoolError(AssociationError):
    """An association pool file is malformed (no candidates column, bad candidate list, ragged rows)."""


class MalformedEventError(InvalidInputError):
    """A message is not a valid event of this schema version (or asks for something impossible)."""

    reason = DeadLetterReason.MALFORMED_EVENT


class ForbiddenPathError(InvalidInputError):
    """A path from a file or an event lies outside the folders a service may use, or reaches them through a
    symbolic link."""

    reason = DeadLetterReason.FORBIDDEN_PATH


class NotRegularFileError(InvalidInputError):
    """A name the services would read is not a regular file (a FIFO, a device, a directory, a socket)."""


class ConfigError(StreamcalError, ValueError):
    """A configuration file is invalid. Raised at load time, so a service fails at startup."""

    reason = DeadLetterReason.CONFIG


class UnknownPipelineError(ConfigError, KeyError):
    """A pipeline name (alias, class, short class or ``.cfg``) is not in the registry.

    A configuration problem (reason ``config``, not retriable); also a ``KeyError`` for lookup callers.
    """

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class MissingReferenceError(StreamcalError, LookupError):
    """No reference file in the store matches the exposure; names what was asked for."""

    reason = DeadLetterReason.REFERENCE_MISSING


class ReferenceUnavailableError(StreamcalError, OSError):
    """A selected reference file exists in the manifest but cannot be read right now."""

    reason = DeadLetterReason.REFERENCE_UNAVAILABLE
    retriable = True
