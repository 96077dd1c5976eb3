"""Valid instances of JSON Schemas, deterministic per token: request bodies, parameters and event data for tests.

Examples in the schema win; otherwise every keyword is met: type (and type lists), const, enum, `$ref` to the
manifest's named schemas, allOf, anyOf, oneOf, not, the object keywords (properties, required,
additionalProperties, min/maxProperties, dependentRequired), the array keywords (items, prefixItems,
min/maxItems, uniqueItems, contains), string length, format and pattern (planforge_runtime.patterns),
number bounds and multipleOf. Strings carry the token so that values which must be unique (emails, names)
differ between calls. Every sample is checked against the schema; one that cannot be made raises SampleError.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from planforge_runtime.patterns import PatternError, matching

__all__ = ["SampleError", "sample", "samples"]

_EPOCH = "2025-01-15T09:00:00Z"
_FORMATS: dict[str, Callable[[str], str]] = {
    "uuid": lambda token: str(uuid.uuid5(uuid.NAMESPACE_URL, token)),
    "email": lambda token: f"e2e-{token}@example.com",
    "idn-email": lambda token: f"e2e-{token}@example.com",
    "date-time": lambda token: _EPOCH,
    "date": lambda token: _EPOCH[:10],
    "time": lambda token: "09:00:00Z",
    "duration": lambda token: "PT1M",
    "uri": lambda token: f"https://example.com/{token}",
    "iri": lambda token: f"https://example.com/{token}",
    "uri-reference": lambda token: f"/{token}",
    "iri-reference": lambda token: f"/{token}",
    "uri-template": lambda token: f"https://example.com/{token}/{{id}}",
    "hostname": lambda token: f"e2e-{token}.example.com",
    "idn-hostname": lambda token: f"e2e-{token}.example.com",
    "ipv4": lambda token: "203.0.113.7",
    "ipv6": lambda token: "2001:db8::7",
    "json-pointer": lambda token: f"/{token}",
    "relative-json-pointer": lambda token: "0",
    "regex": lambda token: f"^{token}$",
}
_MAX_DEPTH = 12


class SampleError(ValueError):
    """No valid instance of the schema could be built (for example, contradictory keywords)."""


def sample(
    schema: Mapping[str, Any],
    token: str,
    known: Mapping[str, Any] | None = None,
    schemas: Mapping[str, Any] | None = None,
) -> Any:
    """A value valid against schema; properties named in known take those values (shared across calls).
    schemas holds the named schemas a bare `$ref: Name` points to."""
    builder = _Builder(schemas or {}, known or {})
    value = builder.build(schema, token, 0)
    problem = builder.problem(schema, value)
    if problem is not None and known:
        value = _Builder(schemas or {}, {}).build(schema, token, 0)  # the known values may not fit here
        problem = builder.problem(schema, value)
    if problem is not None:
        raise SampleError(f"cannot build a valid sample of {dict(schema)!r}: {problem}")
    return value


def samples(schema: Mapping[str, Any], count: int, seed: str, schemas: Mapping[str, Any] | None = None) -> list[Any]:
    """count valid instances of schema, different where the schema allows it (for events without examples)."""
    return [sample(schema, f"{seed}-{index}", schemas=schemas) for index in range(count)]


class _Builder:
    """Builds candidates keyword by keyword; the caller checks the result with a real validator."""

    def __init__(self, schemas: Mapping[str, Any], known: Mapping[str, Any]) -> None:
        self.schemas, self.known = schemas, known
        registry: Registry[Any] = Registry().with_resources(
            (name, Resource.from_contents(dict(value), default_specification=DRAFT202012))
            for name, value in schemas.items()
        )
        self.registry = registry

    def problem(self, schema: Mapping[str, Any], value: Any) -> str | None:
        """The first validation error of value, or None when it is valid."""
        validator = jsonschema.Draft202012Validator(
            dict(schema), registry=self.registry, format_checker=jsonschema.FormatChecker()
        )
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        return None if error is None else error.message

    def valid(self, schema: Mapping[str, Any], value: Any) -> bool:
        return self.problem(schema, value) is None

    def build(self, schema: Any, token: str, depth: int) -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return None if schema is False else {}
        schema = self.resolved(schema)
        if schema.get("examples"):
            return schema["examples"][0]
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return next((v for v in schema["enum"] if self.valid(schema, v)), schema["enum"][0])
        for keyword in ("oneOf", "anyOf"):
            if schema.get(keyword):
                return self.choice(schema, keyword, token, depth)
        return self.typed(schema, token, depth)

    def resolved(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """The schema with its `$ref` and allOf folded in (the keywords of each part merged)."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        parts = list(schema.get("allOf", []))
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in self.schemas:
            parts.insert(0, self.schemas[ref.rsplit("/", 1)[-1]])
        for part in parts:
            merged = _merge(merged, self.resolved(part) if isinstance(part, Mapping) else {})
        return merged

    def choice(self, schema: Mapping[str, Any], keyword: str, token: str, depth: int) -> Any:
        """The first branch of oneOf/anyOf whose sample (with the schema's other keywords) fits the whole schema."""
        rest = {k: v for k, v in schema.items() if k != keyword}
        candidates = [self.build(_merge(rest, self.resolved(b)), token, depth + 1) for b in schema[keyword]]
        return next((c for c in candidates if self.valid(schema, c)), candidates[0])

    def typed(self, schema: Mapping[str, Any], token: str, depth: int) -> Any:
        kind = schema.get("type") or _implied_type(schema)
        kinds = kind if isinstance(kind, list) else [kind]
        candidates = [self.of_type(k, schema, token, depth) for k in kinds if k != "null"] or [None]
        found = next((c for c in candidates if self.valid(schema, c)), candidates[0])
        if "null" in kinds and not self.valid(schema, found):
            return None
        return found

    def of_type(self, kind: str, schema: Mapping[str, Any], token: str, depth: int) -> Any:
        if kind == "object":
            return self.object(schema, token, depth)
        if kind == "array":
            return self.array(schema, token, depth)
        if kind == "string":
            return _string(schema, token)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer")
        return True if kind == "boolean" else None

    def object(self, schema: Mapping[str, Any], token: str, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        names = list(dict.fromkeys(schema.get("required", [])))
        for name in list(names):
            names += [d for d in schema.get("dependentRequired", {}).get(name, []) if d not in names]
        wanted = int(schema.get("minProperties", 0))
        names += [n for n in properties if n not in names][: max(0, wanted - len(names))]
        extra = schema.get("additionalProperties", {})
        value: dict[str, Any] = {}
        for index, name in enumerate(names):
            part = properties.get(name, extra if isinstance(extra, Mapping) else {})
            value[name] = self.known[name] if name in self.known else self.build(part, f"{token}-{index}", depth + 1)
        for index in range(len(value), wanted):
            value[f"x{index}"] = self.build(extra if isinstance(extra, Mapping) else {}, f"{token}-x{index}", depth + 1)
        return value

    def array(self, schema: Mapping[str, Any], token: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", {"type": "string"})
        count = max(int(schema.get("minItems", 1 if not prefix else len(prefix))), len(prefix))
        count = min(count, int(schema.get("maxItems", count)))
        value = [self.build(prefix[i] if i < len(prefix) else items, f"{token}-{i}", depth + 1) for i in range(count)]
        if "contains" in schema and not any(self.valid(schema["contains"], v) for v in value):
            needed = max(1, int(schema.get("minContains", 1)))
            found = [self.build(schema["contains"], f"{token}-c{i}", depth + 1) for i in range(needed)]
            value = (found + value)[: max(needed, min(len(value), int(schema.get("maxItems", len(value)))))]
        if schema.get("uniqueItems"):
            value = self.distinct(value, items, token, depth)
        return value

    def distinct(self, value: list[Any], items: Any, token: str, depth: int) -> list[Any]:
        """Replace repeated items with other valid ones (other enum values, other tokens)."""
        options = list(items.get("enum", [])) if isinstance(items, Mapping) else []
        seen: list[Any] = []
        for index, item in enumerate(value):
            candidate, attempt = item, 0
            while candidate in seen and attempt < 16:
                attempt += 1
                fresh = [o for o in options if o not in seen]
                candidate = fresh[0] if fresh else self.build(items, f"{token}-{index}-{attempt}", depth + 1)
            seen.append(candidate)
        return seen


def _merge(base: Mapping[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """Two schemas' keywords as one: properties and required united, bounds the stricter, the rest the part's."""
    merged = dict(base)
    for key, value in part.items():
        if key == "properties":
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged.get(key, []), *value]))
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum") and key in merged:
            merged[key] = max(merged[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum") and key in merged:
            merged[key] = min(merged[key], value)
        else:
            merged[key] = value
    return merged


def _implied_type(schema: Mapping[str, Any]) -> str:
    """The type a schema without `type` describes, judged by its keywords."""
    if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems", "contains")):
        return "array"
    if any(k in schema for k in ("pattern", "format", "minLength", "maxLength")):
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "object" if not schema else "string"


def _string(schema: Mapping[str, Any], token: str) -> str:
    short = token.replace("-", "")[-12:]
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    if schema.get("format") in _FORMATS:
        text = _FORMATS[schema["format"]](short)
        if "pattern" not in schema or _matches(schema["pattern"], text):
            return text
    if "pattern" in schema:
        return _from_pattern(schema["pattern"], low, high, token)
    text = f"e2e {short}"
    return (text + "x" * max(0, low - len(text)))[:high]


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def _from_pattern(pattern: str, low: int, high: int, token: str) -> str:
    """A string matching pattern within the length bounds, chosen by token."""
    try:
        return matching(pattern, low, high, token)
    except PatternError as exc:
        raise SampleError(str(exc)) from None


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    if "exclusiveMinimum" in schema:
        low = max(low, schema["exclusiveMinimum"] + (1 if integer else 1e-6))
    if "exclusiveMaximum" in schema:
        high = min(high, schema["exclusiveMaximum"] - (1 if integer else 1e-6))
    value: float = min(max(1, low), high)
    step = schema.get("multipleOf")
    if step:
        value = math.ceil(value / step) * step
        if value > high:
            value = math.floor(high / step) * step
    if integer:
        return math.ceil(value) if value <= high else math.floor(value)
    return float(value)
