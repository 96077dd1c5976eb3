"""A schema-heavy synthetic manifest: shaped like a real OpenAPI, not like synth.py's one-schema toy.

Per operation about four named schemas ($ref'ed between each other, nullable fields written as type lists,
objects nested four levels deep, arrays of $refs), path and query parameters, and 10 operations per service
(so 10 services per 100 operations). Every service also shares a few feature-wide schemas, so references
cross services as they do in real systems. Events carry $ref'ed data too.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

__all__ = ["schema_heavy_manifest"]


def _nested(depth: int, tag: str) -> dict[str, Any]:
    """An object nested `depth` levels deep, with a nullable field at every level."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            f"{tag}Code": {"type": "string", "maxLength": 32},
            f"{tag}Note": {"type": ["string", "null"], "maxLength": 500},
        },
    }
    if depth > 0:
        schema["properties"][f"{tag}Inner"] = _nested(depth - 1, tag)
    return schema


def _operation_schemas(service: int, op: int) -> dict[str, Any]:
    """The four schemas of one operation: request, detail (deeply nested), resource, page of resources."""
    stem = f"S{service}Op{op}"
    return {
        f"{stem}Request": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "detail"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "description": {"type": ["string", "null"], "maxLength": 2000},
                "quantity": {"type": ["integer", "null"], "minimum": 0},
                "detail": {"$ref": f"{stem}Detail"},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 20},
                "address": {"$ref": "Address"},
            },
        },
        f"{stem}Detail": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"type": "string", "enum": ["basic", "extended", "custom"]},
                "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                "nested": _nested(3, "level"),
                "money": {"$ref": "Money"},
            },
        },
        f"{stem}Resource": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "name", "createdAt"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "createdAt": {"type": "string", "format": "date-time"},
                "updatedAt": {"type": ["string", "null"], "format": "date-time"},
                "detail": {"$ref": f"{stem}Detail"},
                "owner": {"$ref": "Owner"},
                "children": {"type": "array", "items": {"$ref": f"{stem}Detail"}, "maxItems": 50},
            },
        },
        f"{stem}Page": {
            "type": "object",
            "required": ["items", "total"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"{stem}Resource"}},
                "total": {"type": "integer", "minimum": 0},
                "next": {"type": ["string", "null"]},
            },
        },
    }


_SHARED: dict[str, Any] = {
    "Money": {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    },
    "Address": {
        "type": ["object", "null"],
        "properties": {
            "street": {"type": "string", "maxLength": 200},
            "city": {"type": "string", "maxLength": 100},
            "postcode": {"type": ["string", "null"], "maxLength": 20},
        },
    },
    "Owner": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "address": {"$ref": "Address"}},
    },
}


def _route(service: int, op: int) -> dict[str, Any]:
    stem = f"S{service}Op{op}"
    base = f"/s{service}/things{op}"
    kind = op % 4
    if kind == 0:
        return {
            "id": f"create_thing{op}",
            "method": "POST",
            "path": base,
            "request": f"{stem}Request",
            "responses": {201: f"{stem}Resource", 409: "Problem", 422: "Problem"},
        }
    if kind == 1:
        return {
            "id": f"list_things{op}",
            "method": "GET",
            "path": base,
            "public": True,
            "parameters": {
                "limit": {"in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                "offset": {"in": "query", "schema": {"type": "integer", "minimum": 0}},
            },
            "responses": {200: f"{stem}Page"},
        }
    if kind == 2:
        return {
            "id": f"get_thing{op}",
            "method": "GET",
            "path": f"{base}/{{thingId}}",
            "parameters": {"thingId": {"in": "path", "schema": {"type": "string", "format": "uuid"}}},
            "responses": {200: f"{stem}Resource", 404: "Problem"},
        }
    return {
        "id": f"update_thing{op}",
        "method": "PUT",
        "path": f"{base}/{{thingId}}",
        "parameters": {"thingId": {"in": "path", "schema": {"type": "string", "format": "uuid"}}},
        "request": f"{stem}Request",
        "responses": {200: f"{stem}Resource", 404: "Problem", 422: "Problem"},
    }


def schema_heavy_manifest(operations: int, per_service: int = 10) -> str:
    """YAML text of a valid manifest with `operations` routes and about 4 schemas per route."""
    count = max(1, operations // per_service)
    services: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(_SHARED)
    events: dict[str, Any] = {}
    queues: dict[str, Any] = {}
    for i in range(count):
        name = f"svc{i}-service"
        ops = per_service if i < count - 1 else operations - per_service * (count - 1)
        ops = max(ops, 1)
        for j in range(ops):
            schemas |= _operation_schemas(i, j)
        services[name] = {
            "title": f"Service {i}",
            "layer": "core" if i % 2 == 0 else "support",
            "uses": [f"svc{i}-db", "queue"],
            "routes": [_route(i, j) for j in range(ops)],
            "publishes": [f"svc{i}.changed"],
            "consumes": [{"event": f"svc{(i - 1) % count}.changed", "queue": f"{name}-queue", "does": "syncs"}]
            if count > 1
            else [],
        }
        events[f"svc{i}.changed"] = {
            "exchange": "events",
            "data": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "detail": {"$ref": f"S{i}Op0Detail"},
                    "owner": {"$ref": "Owner"},
                },
            },
            "examples": [{"id": "7b0c5f8e-2a55-4c7e-9f57-0d8a4c1e2b3a", "detail": {"kind": "basic"}}],
        }
        if count > 1:
            queues[f"{name}-queue"] = {"bindings": [{"exchange": "events", "routing_key": f"svc{(i - 1) % count}.*"}]}
    manifest = {
        "planforge": 1,
        "feature": {
            "name": f"Schema Heavy {operations}",
            "slug": f"schema-heavy-{operations}",
            "overview": "Benchmark input: an OpenAPI-shaped feature.",
        },
        "datastores": {"queue": {"kind": "rabbitmq"}}
        | {f"svc{i}-db": {"kind": "postgres", "owner": f"svc{i}-service"} for i in range(count)},
        "services": services,
        "schemas": schemas,
        "events": events,
        "broker": {"exchanges": {"events": {"type": "topic"}}, "queues": queues},
        "gateway": {
            "routes": [
                {
                    "path": f"/api/s{i}/*",
                    "service": f"svc{i}-service",
                    "methods": ["GET", "POST", "PUT"],
                    "strip_prefix": "/api",
                }
                for i in range(count)
            ],
            "authentication": {"jwt": {"algorithms": ["RS256"], "issuer": "svc0-service"}},
        },
    }
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=True, width=200)


if __name__ == "__main__":
    sys.stdout.write(schema_heavy_manifest(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
