"""What a schema's keywords mean for the Python value the model emitter types: exact bounds, formats whose
type would write back a form their pattern refuses, members beyond the properties, defaults that fit."""

from __future__ import annotations

import math
from typing import Any

from jsonschema import Draft202012Validator, validators

from planforge.targets.pylayout import number

__all__ = ["LENGTH_TYPES", "bound", "fits", "integral", "keeps_extra", "reshaped"]

# The annotations pydantic checks minLength and maxLength on.
LENGTH_TYPES = frozenset({"str", "EmailStr", "SecretStr"})


def bound(keyword_: str, value: Any, integer: bool) -> str | None:
    """A bound as an exact Python literal (None when it is no JSON number): pydantic compares a number's value,
    an int or a float, with it as Python does, exactly. An integer's bound is the nearest integer inside it,
    since pydantic refuses a fractional bound on an int."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) or not integer:
        return number(value) if isinstance(value, float) else repr(value)
    lower = keyword_ in ("minimum", "exclusiveMaximum")  # n >= 1.5 is n >= 2; n < 1.5 is n < 2
    return repr(math.ceil(value) if lower else math.floor(value))


def reshaped(annotation: str, schema: dict[str, Any]) -> bool:
    """True when a format's type would write back a value its pattern or lengths refuse: it writes a normal
    form ('A0..' as 'a0..', '0:0::1' as '::1', '.1Z' as '.100000Z'), which the model checks no pattern against."""
    limits = ("pattern",) if annotation in LENGTH_TYPES else ("pattern", "minLength", "maxLength")
    return any(keyword_ in schema for keyword_ in limits)


def keeps_extra(schema: dict[str, Any]) -> bool:
    """True when members beyond the properties are part of the value: described by a schema, or required (by name
    or by count), so that writing the model back must keep them."""
    properties = schema.get("properties") or {}
    required: list[Any] = schema["required"] if isinstance(schema.get("required"), list) else []
    described = schema.get("additionalProperties", False) is not False or bool(schema.get("patternProperties"))
    counted = any(keyword_ in schema for keyword_ in ("minProperties", "dependentRequired", "dependentSchemas"))
    return described or counted or any(name not in properties for name in required)


def integral(value: Any) -> Any:
    """A JSON value with its integral floats as ints (1.0 as 1), which fit an int annotation as a float's."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [integral(v) for v in value]
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    return value


_STRICT = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def fits(default: Any, schema: dict[str, Any]) -> bool:
    """True when the default is valid for its schema, an integer being an int (as the annotation types it)."""
    try:
        return bool(_STRICT(schema).is_valid(default))
    except Exception:  # a schema it cannot read (an unresolvable $ref): no default, never a crash
        return False
