"""PF708, PF709, PF712: JSON Schemas are valid, event examples match their schema, pii fields exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing.exceptions import Unresolvable

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.rules.jsonschemas import bad_refs, registry, resolve, schema_sites
from planforge.rules.manifest import Manifest, describe
from planforge.schema import surely_valid

__all__ = ["check"]

_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
# Compiled once: answers "valid?" for every schema; only a schema it rejects is ranked with best_match.
_FAST_META = jsonschema_rs.Draft202012Validator(Draft202012Validator.META_SCHEMA, validate_formats=False, offline=True)


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Invalid schemas, then pii fields and examples of each event (examples only when all schemas are sound)."""
    invalid = list(_invalid_schemas(m))
    yield from invalid
    for name, event in m.events.items():
        yield from _pii(m, name, event)
    if not invalid and not any(bad_refs(m)):
        # Built once: constructing a validator with the registry costs far more than checking an example.
        base = Draft202012Validator({}, registry=registry(m), format_checker=Draft202012Validator.FORMAT_CHECKER)
        for name, event in m.events.items():
            yield from _examples(m, base, name, event)


def _invalid_schemas(m: Manifest) -> Iterator[Diagnostic]:
    for site, schema in schema_sites(m):
        if surely_valid(_FAST_META, schema):
            continue
        error = best_match(_META.iter_errors(schema))
        if error is not None:
            where: JsonPath = (*site, *error.absolute_path)
            yield m.error(
                "PF712",
                where,
                f"{describe(where)} is not valid JSON Schema (draft 2020-12): {error.message}",
                "see https://json-schema.org/understanding-json-schema/",
            )


def _properties(m: Manifest, schema: Any, depth: int = 0) -> set[str]:
    """Property names a data schema declares, following $ref and allOf (a few levels at most)."""
    schema = resolve(m, schema)
    if not isinstance(schema, dict) or depth > 8:
        return set()
    properties, parts = schema.get("properties", {}), schema.get("allOf", [])
    names = set(properties) if isinstance(properties, dict) else set()
    for part in parts if isinstance(parts, list) else []:
        names |= _properties(m, part, depth + 1)
    return names


def _pii(m: Manifest, name: str, event: dict[str, Any]) -> Iterator[Diagnostic]:
    fields = _properties(m, event["data"])
    for index, field in enumerate(event.get("pii", [])):
        if field not in fields:
            known = ", ".join(sorted(fields)) or "none"
            yield m.error(
                "PF708",
                ("events", name, "pii", index),
                f"pii field '{field}' is not a property of the data of '{name}'",
                f"its properties: {known}",
            )


def _examples(m: Manifest, base: Draft202012Validator, name: str, event: dict[str, Any]) -> Iterator[Diagnostic]:
    validator = base.evolve(schema=event["data"])
    for index, example in enumerate(event.get("examples", [])):
        try:
            error = best_match(validator.iter_errors(example))
        except (Unresolvable, RecursionError) as exc:
            why = "its schema refers to itself without end" if isinstance(exc, RecursionError) else str(exc)
            yield m.error("PF709", ("events", name, "examples", index), f"example cannot be checked: {why}")
            continue
        if error is not None:
            where: JsonPath = ("events", name, "examples", index, *error.absolute_path)
            yield m.error(
                "PF709",
                where,
                f"example {index + 1} of '{name}' does not match its data schema: {error.message}",
                "fix the example or the schema",
            )
