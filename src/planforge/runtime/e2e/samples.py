"""Valid instances of JSON Schemas, deterministic but unique per run: request bodies and parameters for e2e tests.

Examples in the schema win; otherwise each keyword is met with the smallest fitting value. Strings carry a
token so that values which must be unique (emails, names) differ between runs and between calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["sample"]

_EPOCH = "2025-01-15T09:00:00Z"
_FORMATS: dict[str, Callable[[str], str]] = {
    "uuid": lambda token: str(uuid.uuid5(uuid.NAMESPACE_URL, token)),
    "email": lambda token: f"e2e-{token}@example.com",
    "date-time": lambda token: _EPOCH,
    "date": lambda token: _EPOCH[:10],
    "uri": lambda token: f"https://example.com/{token}",
    "ipv4": lambda token: "203.0.113.7",
}


def sample(schema: Mapping[str, Any], token: str, known: Mapping[str, Any] | None = None) -> Any:
    """A value valid against schema; properties named in known take those values (shared across calls)."""
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    build = _BY_TYPE.get(kind, _BY_TYPE["null"])
    return build(schema, token, known or {})


def _object(schema: Mapping[str, Any], token: str, known: Mapping[str, Any]) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    names = list(schema.get("required", properties))
    return {
        name: known[name] if name in known else sample(properties.get(name, {}), f"{token}-{index}", known)
        for index, name in enumerate(names)
    }


def _array(schema: Mapping[str, Any], token: str, known: Mapping[str, Any]) -> list[Any]:
    count = int(schema.get("minItems", 1))
    return [sample(schema.get("items", {"type": "string"}), f"{token}-{i}", known) for i in range(count)]


def _string(schema: Mapping[str, Any], token: str, known: Mapping[str, Any]) -> str:
    short = token.replace("-", "")[-12:]
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]](short)
    text = f"e2e {short}"
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    text = (text + "x" * max(0, low - len(text)))[:high]
    return text


def _integer(schema: Mapping[str, Any], token: str, known: Mapping[str, Any]) -> int:
    low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 2) - 1)
    return int(max(low, min(1, high)))


def _number(schema: Mapping[str, Any], token: str, known: Mapping[str, Any]) -> float:
    return float(_integer(schema, token, known))


_BY_TYPE: dict[str, Callable[[Mapping[str, Any], str, Mapping[str, Any]], Any]] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": lambda schema, token, known: True,
    "null": lambda schema, token, known: None,
}
