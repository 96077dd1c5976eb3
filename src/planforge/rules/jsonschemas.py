"""The JSON Schemas inside a manifest: where they are, the $refs they make, and a registry to validate with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA as PROBLEM
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from planforge.loader import JsonPath
from planforge.rules.manifest import Manifest
from planforge.schemawalk import refs_in as walk_refs

__all__ = ["PROBLEM", "bad_refs", "refs_in", "registry", "resolve", "schema_sites"]


def schema_sites(m: Manifest) -> Iterator[tuple[JsonPath, Any]]:
    """Every JSON Schema the manifest holds: named schemas, event data and route parameter schemas."""
    for name, schema in m.schemas.items():
        yield ("schemas", name), schema
    for name, event in m.events.items():
        yield ("events", name, "data"), event["data"]
    for service, index, route in m.service_routes():
        for param, spec in route.get("parameters", {}).items():
            if "schema" in spec:
                yield ("services", service, "routes", index, "parameters", param, "schema"), spec["schema"]


def refs_in(schema: Any, path: JsonPath) -> Iterator[tuple[JsonPath, Any]]:
    """Every '$ref' of a schema, as (path of the $ref value, its value)."""
    yield from walk_refs(schema, path)


def bad_refs(m: Manifest) -> Iterator[tuple[JsonPath, Any]]:
    """Every '$ref' that does not name a declared or built-in schema."""
    names = m.schema_names()
    for site, schema in schema_sites(m):
        for path, ref in refs_in(schema, site):
            if not isinstance(ref, str) or ref not in names:
                yield path, ref


def registry(m: Manifest) -> Registry[Any]:
    """A registry where each named schema (and 'Problem') is found by its bare name."""
    schemas = {"Problem": PROBLEM, **m.schemas}
    resources = [(name, Resource.from_contents(s, default_specification=DRAFT202012)) for name, s in schemas.items()]
    return Registry().with_resources(resources)


def resolve(m: Manifest, schema: Any, depth: int = 0) -> Any:
    """Follow a top-level '$ref' to the named schema it points to (a few levels at most)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 8:
        schema = {"Problem": PROBLEM, **m.schemas}.get(schema["$ref"], {})
        depth += 1
    return schema
