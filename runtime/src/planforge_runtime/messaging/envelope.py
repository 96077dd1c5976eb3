"""The event envelope of the seed (eventId, eventType, timestamp, correlationId, data) and the event catalog.

The catalog knows each event's exchange, routing key and JSON Schema, compiles one Draft 2020-12 validator per
event at start-up, and is the only way to build an envelope: data that does not match its schema raises
EventValidationError in the producer. Consumers read bodies back with it; what cannot be read is poison.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from planforge_runtime.correlation import current_correlation_id
from planforge_runtime.formats import FORMAT_CHECKER

__all__ = [
    "Envelope",
    "EnvelopeError",
    "EventCatalog",
    "EventSpec",
    "EventValidationError",
    "UnknownEventError",
]

_FIELDS = ("eventId", "eventType", "timestamp", "correlationId")
_MAX_ID = 128


class EnvelopeError(ValueError):
    """A message body that is not an event envelope (not JSON, a field missing or of the wrong type)."""


class UnknownEventError(EnvelopeError):
    """An envelope whose eventType the catalog (or the consuming queue) does not know."""

    def __init__(self, event_type: str, queue: str | None = None) -> None:
        where = f" on queue {queue!r}" if queue else ""
        super().__init__(f"unknown event type {event_type!r}{where}")
        self.event_type = event_type


class EventValidationError(ValueError):
    """Event data that does not match the event's JSON Schema; names the event and the failing field."""

    def __init__(self, event_type: str, field: str, reason: str) -> None:
        where = f"data.{field}" if field else "data"
        super().__init__(f"event {event_type!r} is invalid at {where}: {reason}")
        self.event_type = event_type
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event as it travels: the envelope fields and the event's data."""

    event_id: str
    event_type: str
    timestamp: str
    correlation_id: str
    data: Any

    def as_json(self) -> dict[str, Any]:
        """The envelope as the JSON object on the wire."""
        return {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "timestamp": self.timestamp,
            "correlationId": self.correlation_id,
            "data": self.data,
        }

    def body(self) -> bytes:
        """The message body: compact UTF-8 JSON."""
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event the service knows: where it is published and the JSON Schema of its data."""

    name: str
    exchange: str
    routing_key: str
    schema: Mapping[str, Any] = field(default_factory=dict)


class EventCatalog:
    """The events a service publishes or consumes, each with a validator compiled once.

    schemas holds the manifest's named schemas, which event schemas refer to with a bare ``$ref: Name``.
    """

    def __init__(self, events: Iterable[EventSpec], schemas: Mapping[str, Any] | None = None) -> None:
        self._specs = {spec.name: spec for spec in events}
        self.schemas: dict[str, Any] = dict(schemas or {})
        registry: Registry[Any] = Registry().with_resources(
            (name, Resource.from_contents(schema, default_specification=DRAFT202012))
            for name, schema in (schemas or {}).items()
        )
        self._validators = {name: _validator(spec.schema, registry) for name, spec in self._specs.items()}

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._specs

    def spec(self, event_type: str) -> EventSpec:
        """The event's spec; UnknownEventError when the catalog does not hold it."""
        if event_type not in self._specs:
            raise UnknownEventError(event_type)
        return self._specs[event_type]

    def validate(self, event_type: str, data: Any) -> None:
        """Raise EventValidationError when data does not match the event's schema."""
        self.spec(event_type)
        error = best_match(self._validators[event_type].iter_errors(data))
        if error is not None:
            raise EventValidationError(event_type, _field(error), _reason(error))

    def envelope(
        self, event_type: str, data: Any, correlation_id: str | None = None, event_id: str | None = None
    ) -> Envelope:
        """A new envelope around valid data; the correlation ID defaults to the current request's, else a new one."""
        self.validate(event_type, data)
        return Envelope(
            event_id=event_id or str(uuid.uuid4()),
            event_type=event_type,
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            correlation_id=correlation_id or current_correlation_id() or str(uuid.uuid4()),
            data=data,
        )

    def read(self, body: bytes) -> Envelope:
        """The envelope in a message body, its data not yet validated; EnvelopeError when there is none."""
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"body is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise EnvelopeError("body is not a JSON object")
        for name in _FIELDS:
            value = document.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
                raise EnvelopeError(f"envelope field {name!r} is missing or not a string of 1 to {_MAX_ID} characters")
        if "data" not in document:
            raise EnvelopeError("envelope field 'data' is missing")
        event_id, event_type, timestamp, correlation_id = (document[name] for name in _FIELDS)
        return Envelope(event_id, event_type, timestamp, correlation_id, document["data"])


def _validator(schema: Mapping[str, Any], registry: Registry[Any]) -> Draft202012Validator:
    """A validator for one event's data; the schema itself is checked first so a bad one fails at start-up."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry, format_checker=FORMAT_CHECKER)


# What each keyword's failure means, told from the schema alone: the failing value is never quoted, since it
# may be personal data (an email) that would otherwise reach logs and dead-letter headers.
_REASONS = {
    "type": "is not of type {value}",
    "format": "is not a valid {value}",
    "required": "is required",
    "enum": "is not one of the allowed values",
    "const": "is not the required value",
    "pattern": "does not match the pattern {value}",
    "minimum": "is less than the minimum of {value}",
    "maximum": "is more than the maximum of {value}",
    "exclusiveMinimum": "is not more than {value}",
    "exclusiveMaximum": "is not less than {value}",
    "minLength": "is shorter than the minimum length of {value}",
    "maxLength": "is longer than the maximum length of {value}",
    "minItems": "has fewer than {value} items",
    "maxItems": "has more than {value} items",
    "additionalProperties": "has a property the schema does not allow",
    "uniqueItems": "has repeated items",
}


def _reason(error: ValidationError) -> str:
    """Why the value fails, without the value."""
    template = _REASONS.get(str(error.validator), "fails the schema's '{keyword}' rule")
    value = error.validator_value if isinstance(error.validator_value, str | int | float) else ""
    return template.format(value=value, keyword=error.validator)


def _field(error: ValidationError) -> str:
    """Where the error is, as a dotted path; for a missing required property, the property itself."""
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    required = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict) and isinstance(required, list):
        missing = [name for name in required if name not in error.instance]
        parts += [f".{missing[0]}"] if missing else []
    return "".join(parts).lstrip(".")
