"""The only place events become bytes and bytes become events.

JSON through one pydantic ``TypeAdapter`` over the event dataclasses, dispatched on their ``type`` tag.
Reading is tolerant of what a newer producer may add (unknown fields are ignored) but not of a different
``schema_version``: such a message, like bytes that are not an event at all, raises
:class:`MalformedEventError`, which the consumers turn into a dead letter holding the raw bytes.
"""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from pydantic import Field, TypeAdapter, ValidationError

from services.events import SCHEMA_VERSION, Event
from streamcal.errors import MalformedEventError

__all__ = ["decode", "decode_as", "encode"]

_E = TypeVar("_E")

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="type")])

#: Older schema versions whose events of these types have today's fields (version 2 changed only the work and
#: member-done events), so dead letters and Kafka records written before an upgrade stay readable.
_UNCHANGED_SINCE: dict[int, frozenset[str]] = {
    1: frozenset({"exposure.arrived", "association.declared", "association.ready", "products.written", "deadletter"}),
}


def encode(event: Event) -> bytes:
    """Serialize an event to UTF-8 JSON bytes."""
    return _ADAPTER.dump_json(event)


def decode(raw: bytes) -> Event:
    """Parse bytes into an event.

    Raises
    ------
    MalformedEventError
        Not JSON, not an object, an unknown ``type``, a foreign ``schema_version`` or invalid fields.
        Not retriable.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEventError(f"message is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedEventError(f"message is a JSON {type(doc).__name__}, not an event object")
    version = doc.get("schema_version")
    if version in _UNCHANGED_SINCE and doc.get("type") not in _UNCHANGED_SINCE[version]:
        raise MalformedEventError(f"a schema_version {version} {doc.get('type')!r} event carries the route, not the "
                                  "run specification: land its raw file again")
    if version in _UNCHANGED_SINCE:  # the same fields under an older version: read as today's
        doc = {**doc, "schema_version": SCHEMA_VERSION}
    elif version != SCHEMA_VERSION:
        raise MalformedEventError(f"schema_version {version!r} is not {SCHEMA_VERSION}: cannot read this event")
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedEventError(
            f"invalid {doc.get('type', 'untyped')!r} event: {where}: {first['msg']} ({exc.error_count()} errors)"
        ) from exc


def decode_as(raw: bytes, kind: type[_E] | tuple[type[_E], ...]) -> _E:
    """Parse bytes and check the event is of the kind the topic carries.

    Raises
    ------
    MalformedEventError
        As :func:`decode`, or the event is of another kind. Not retriable.
    """
    event = decode(raw)
    if not isinstance(event, kind):
        raise MalformedEventError(f"unexpected {type(event).__name__} on a topic that carries {_names(kind)}")
    return event


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
