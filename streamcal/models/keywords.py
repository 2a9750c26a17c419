"""Reading routing keywords from a header mapping.

Headers are plain ``Mapping[str, object]`` (an ``astropy.io.fits.Header``, a dict from an event, a pool row)
and are looked up by their upper-case FITS keyword. Values arrive as whatever the producer wrote: FITS
logicals as ``bool`` (or ``numpy.bool_``), strings from pools as ``'T'``/``'F'``. These helpers turn them
into Python values or raise an error that names the keyword, the value and the source.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streamcal.errors import BadKeywordValueError, MissingKeywordError

__all__ = [
    "header_bool",
    "header_float",
    "header_int",
    "header_str",
]

_TRUE = frozenset({"T", "TRUE"})
_FALSE = frozenset({"F", "FALSE"})


def _where(source: str | None) -> str:
    return f" in {source}" if source else ""


def header_str(header: Mapping[str, object], key: str, *, source: str | None = None) -> str | None:
    """Return a keyword as a stripped, upper-case string, or None when absent or blank.

    Parameters
    ----------
    header : Mapping[str, object]
        The header, keyed by upper-case FITS keyword.
    key : str
        The keyword.
    source : str, optional
        The file the header came from, for error messages.

    Returns
    -------
    str or None

    Raises
    ------
    BadKeywordValueError
        The value is not a string. Not retriable.
    """
    value = header.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadKeywordValueError(
            f"{key}={value!r}{_where(source)} is a {type(value).__name__}, expected a string"
        )
    text = value.strip().upper()
    return text or None


def header_bool(
    header: Mapping[str, object], key: str, *, source: str | None = None, default: bool = False
) -> bool:
    """Return a FITS logical keyword as a bool.

    Accepts ``bool`` (and ``numpy.bool_``) and the strings ``T``, ``F``, ``TRUE``, ``FALSE`` in any case
    with surrounding blanks. A missing keyword or ``None`` gives ``default``.

    Parameters
    ----------
    header : Mapping[str, object]
        The header, keyed by upper-case FITS keyword.
    key : str
        The keyword, e.g. ``"TSOVISIT"``.
    source : str, optional
        The file the header came from, for error messages.
    default : bool
        The value of an absent keyword.

    Returns
    -------
    bool

    Raises
    ------
    BadKeywordValueError
        Any other value (numbers, other strings, blank strings). Not retriable.
    """
    value = header.get(key)
    if value is None:
        return default
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().upper()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadKeywordValueError(f"{key}={value!r}{_where(source)} is not a FITS logical (T/F)")


def header_int(
    header: Mapping[str, object], key: str, *, source: str | None = None, default: int | None = None
) -> int:
    """Return an integer keyword.

    Accepts ``int`` (not ``bool``), integral floats and decimal strings.

    Parameters
    ----------
    header : Mapping[str, object]
        The header, keyed by upper-case FITS keyword.
    key : str
        The keyword, e.g. ``"NUMDTHPT"``.
    source : str, optional
        The file the header came from, for error messages.
    default : int, optional
        The value of an absent (or None, or blank) keyword; without it an absent keyword is an error.

    Returns
    -------
    int

    Raises
    ------
    MissingKeywordError
        The keyword is absent and there is no default. Not retriable.
    BadKeywordValueError
        The value is not an integer. Not retriable.
    """
    value = header.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise MissingKeywordError(key, source)
        return default
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise BadKeywordValueError(f"{key}={value!r}{_where(source)} is not an integer")


def header_float(
    header: Mapping[str, object], key: str, *, source: str | None = None, default: float | None = None
) -> float:
    """Return a numeric keyword as a float (``bool`` is not a number).

    Raises
    ------
    MissingKeywordError
        The keyword is absent and there is no default. Not retriable.
    BadKeywordValueError
        The value is not a finite number. Not retriable.
    """
    value = header.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise MissingKeywordError(key, source)
        return default
    if not isinstance(value, bool | np.bool_):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        else:
            if np.isfinite(number):
                return number
    raise BadKeywordValueError(f"{key}={value!r}{_where(source)} is not a number")
