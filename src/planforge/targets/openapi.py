"""OpenAPI 3.1 documents: openapi/<service>.yaml for every service with routes, from the model.

The answers a service gives besides the manifest's are part of its contract: 401 on non-public routes,
422 where there is anything to validate, and a problem+json ``default`` (e.g. 501 before a handler is
written). The services target serves the same operations and status codes.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from planforge.model import Model, Parameter, Route, Service
from planforge.problem import PROBLEM_SCHEMA as PROBLEM
from planforge.targets import Output
from planforge.yamltext import dump_yaml

__all__ = ["API_VERSION", "SECURITY_SCHEME", "document", "render", "statuses"]

API_VERSION = "1.0.0"
SECURITY_SCHEME = "bearerAuth"
PROBLEM_JSON = "application/problem+json"
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "example", "examples"})


def render(model: Model) -> Output:
    """One OpenAPI document per service (one without routes still serves a contract: no operations)."""
    files = {}
    for service in model.services:
        text = dump_yaml(document(model, service), width=1000)
        files[f"openapi/{service.name}.yaml"] = text
    return Output(owned=files)


def statuses(route: Route) -> list[tuple[str, str | None]]:
    """(status, schema name or None) of every answer: the manifest's, then 401/422 where due, then default."""
    declared = {str(r.status): r.schema for r in route.responses}
    if not route.public:
        declared.setdefault("401", "Problem")
    if route.request or route.parameters:
        declared.setdefault("422", "Problem")
    answers = sorted(declared.items())
    return [*answers, ("default", "Problem")]


def document(model: Model, service: Service) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one service."""
    paths: dict[str, dict[str, Any]] = {}
    for route in service.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": service.title, "version": API_VERSION},
        "servers": [{"url": f"http://127.0.0.1:{service.port}"}],
        "paths": paths,
        "components": {"schemas": _components(model, service)},
    }
    if service.summary:
        doc["info"]["description"] = service.summary
    if any(not r.public for r in service.routes):
        doc["components"]["securitySchemes"] = {
            SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    return doc


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.id, "summary": route.summary or route.id}
    if route.parameters:
        operation["parameters"] = [_parameter(p) for p in route.parameters]
    if route.request:
        operation["requestBody"] = {"required": True, "content": _content(route.request, "application/json")}
    operation["responses"] = {status: _answer(status, schema) for status, schema in statuses(route)}
    if not route.public:
        operation["security"] = [{SECURITY_SCHEME: []}]
    return operation


def _parameter(parameter: Parameter) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": parameter.name, "in": parameter.location, "required": parameter.required}
    if parameter.description:
        spec["description"] = parameter.description
    spec["schema"] = component_refs(parameter.schema.value)
    return spec


def _answer(status: str, schema: str | None) -> dict[str, Any]:
    description = "Problem details (RFC 9457)." if status == "default" else HTTPStatus(int(status)).phrase
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = _content(schema, PROBLEM_JSON if schema == "Problem" else "application/json")
    return answer


def _content(schema: str, media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def component_refs(schema: Any) -> Any:
    """A manifest JSON Schema with its bare-name $refs ('Address') pointing into components."""
    if isinstance(schema, list):
        return [component_refs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = f"#/components/schemas/{value}"
        elif key in _DATA_KEYWORDS:
            result[key] = value
        else:
            result[key] = component_refs(value)
    return result


def schemas_of(model: Model, service: Service) -> dict[str, Any]:
    """The named schemas a service's routes need (transitively), in manifest order, Problem included."""
    known = {"Problem": PROBLEM, **{name: schema.value for name, schema in model.schemas}}
    wanted = {"Problem"}
    pending = [name for r in service.routes for name in _route_schemas(r)]
    while pending:
        name = pending.pop()
        if name in wanted or name not in known:
            continue
        wanted.add(name)
        pending.extend(_refs(known[name]))
    return {name: schema for name, schema in known.items() if name in wanted}


def _components(model: Model, service: Service) -> dict[str, Any]:
    return {name: component_refs(schema) for name, schema in schemas_of(model, service).items()}


def _route_schemas(route: Route) -> list[str]:
    names = [r.schema for r in route.responses if r.schema]
    if route.request:
        names.append(route.request)
    for parameter in route.parameters:
        names.extend(_refs(parameter.schema.value))
    return names


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, list):
        return [ref for item in schema for ref in _refs(item)]
    if not isinstance(schema, dict):
        return []
    found = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
    for key, value in schema.items():
        if key not in _DATA_KEYWORDS and key != "$ref":
            found.extend(_refs(value))
    return found
