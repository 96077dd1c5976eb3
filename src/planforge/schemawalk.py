"""The one walker of the manifest's JSON Schemas: their '$ref's, rewritten, followed, inlined.

A manifest '$ref' names another schema of the manifest by its bare name (``{$ref: Address}``). Rules,
the model builder and every target walk schemas with these functions, so that what counts as a
reference (and what is data, like an ``enum`` value that happens to hold a '$ref' key) is decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "DATA_KEYWORDS",
    "SCHEMA_MAPS",
    "inline",
    "point_refs",
    "ref_values",
    "referenced",
    "refs",
    "refs_in",
    "resolve",
    "rewrite_refs",
    "subschemas",
]

# Keywords whose values are data, not schemas: a '$ref' key inside them is not a reference.
DATA_KEYWORDS = frozenset({"const", "default", "enum", "example", "examples"})
# Keywords whose values map arbitrary names to schemas.
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_MAX_DEPTH = 8
# Keywords whose value is one schema, and those whose value is a list of schemas.
_ONE_SCHEMA = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})

Path = tuple[str | int, ...]


def refs_in(schema: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every '$ref' of a schema, as (path of the $ref value, its value)."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from refs_in(item, (*path, index))
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        here = (*path, key)
        if key == "$ref":
            yield here, value
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from refs_in(sub, (*here, name))
        elif key not in DATA_KEYWORDS:
            yield from refs_in(value, here)


def subschemas(schema: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every schema object inside schema (itself first), with its path."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from subschemas(sub, (*path, key, name))
        elif key in _ONE_SCHEMA:
            yield from subschemas(value, (*path, key))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from subschemas(sub, (*path, key, index))


def refs(schema: Any) -> list[str]:
    """The schema names a schema refers to, in document order (repeats kept)."""
    return [ref for ref in ref_values(schema) if isinstance(ref, str)]


def ref_values(schema: Any) -> list[Any]:
    """The value of every '$ref' of a schema, in document order: refs_in without the paths, and much cheaper."""
    found: list[Any] = []
    _collect_refs(schema, found)
    return found


def _collect_refs(schema: Any, found: list[Any]) -> None:
    if isinstance(schema, list):
        for item in schema:
            _collect_refs(item, found)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key == "$ref":
            found.append(value)
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                _collect_refs(sub, found)
        elif key not in DATA_KEYWORDS and isinstance(value, dict | list):
            _collect_refs(value, found)


def rewrite_refs(schema: Any, change: Callable[[str], str]) -> Any:
    """A copy of schema with change applied to every string '$ref', leaving data alone."""
    if isinstance(schema, list):
        return [rewrite_refs(item, change) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            result[key] = change(value) if isinstance(value, str) else value
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: rewrite_refs(sub, change) for name, sub in value.items()}
        elif key in DATA_KEYWORDS:
            result[key] = value
        else:
            result[key] = rewrite_refs(value, change)
    return result


def point_refs(schema: Any, prefix: str) -> Any:
    """A copy of schema whose bare-name '$ref's point under prefix ('#/components/schemas/')."""
    return rewrite_refs(schema, lambda ref: ref if "/" in ref else prefix + ref)


def referenced(named: Mapping[str, Any], roots: list[Any], order: Mapping[str, int] | None = None) -> list[str]:
    """The names of named schemas that roots refer to, transitively, in named's order.

    order (each name's index in named) lets a caller asking for many root sets sort only what it found,
    not walk every name each time."""
    wanted: set[str] = set()
    pending = [name for root in roots for name in refs(root)]
    while pending:
        name = pending.pop()
        if name in wanted or name not in named:
            continue
        wanted.add(name)
        pending.extend(refs(named[name]))
    if order is None:
        return [name for name in named if name in wanted]
    return sorted(wanted, key=order.__getitem__)


def resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    """Follow a top-level '$ref' to the schema it names (sibling keywords kept over the target's)."""
    depth = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < _MAX_DEPTH:
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        target = named.get(schema["$ref"], {})
        schema = {**target, **siblings} if isinstance(target, dict) else siblings
        depth += 1
    return schema


def inline(schema: Any, named: Mapping[str, Any], depth: int = 0) -> Any:
    """The schema with every '$ref' replaced by the schema it names (cycles cut at a fixed depth)."""
    if isinstance(schema, list):
        return [inline(item, named, depth) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return inline(named[name], named, depth + 1) if name in named and depth < _MAX_DEPTH else {}
    return {key: value if key in DATA_KEYWORDS else inline(value, named, depth) for key, value in schema.items()}
