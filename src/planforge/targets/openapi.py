"""OpenAPI 3.1 documents: openapi/<service>.yaml for every service with routes, from the model.

The answers a service gives besides the manifest's are part of its contract: 401 on non-public routes,
422 where there is anything to validate, and a problem+json ``default`` (e.g. 501 before a handler is
written). The services target serves the same operations and status codes.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA as PROBLEM

from planforge.escape import yaml_document
from planforge.model import Model, Parameter, Route, Service
from planforge.schemawalk import point_refs
from planforge.targets import Output
from planforge.targets.named import with_problem

__all__ = ["API_VERSION", "SECURITY_SCHEME", "document", "pointed_schemas", "render", "statuses"]

API_VERSION = "1.0.0"
SECURITY_SCHEME = "bearerAuth"
PROBLEM_JSON = "application/problem+json"
_COMPONENTS = "#/components/schemas/"
_ETAG = {"description": "The version of the resource this answer shows.", "schema": {"type": "string"}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": "The ETag of the version being changed: 412 when it is not the current one, 428 when missing.",
    "schema": {"type": "string"},
}


def render(model: Model) -> Output:
    """One OpenAPI document per service (one without routes still serves a contract: no operations)."""
    files = {}
    pointed = pointed_schemas(model)  # once for every service: a schema is rewritten once, however many need it
    for service in model.services:
        text = yaml_document(document(model, service, pointed), width=1000)
        files[f"openapi/{service.name}.yaml"] = text
    return Output(owned=files)


def statuses(route: Route) -> list[tuple[str, str | None]]:
    """(status, schema name or None) of every answer of a route, as the model derived them."""
    return list(route.answers)


def document(model: Model, service: Service, pointed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one service (pointed: pointed_schemas(model), when the caller has it)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in service.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": service.title, "version": API_VERSION},
        "servers": [{"url": f"http://127.0.0.1:{service.port}"}],
        "paths": paths,
        "components": {"schemas": _components(service, pointed or pointed_schemas(model))},
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
    parameters = [_parameter(p) for p in route.parameters]
    if route.etag == "update":
        parameters.append(copy.deepcopy(_IF_MATCH))
    if parameters:
        operation["parameters"] = parameters
    if route.request:
        operation["requestBody"] = {"required": True, "content": _content(route.request, "application/json")}
    operation["responses"] = {status: _answer(status, schema) for status, schema in statuses(route)}
    if route.etag:
        operation["responses"][str(route.success.status)]["headers"] = {"ETag": copy.deepcopy(_ETAG)}
    if not route.public:
        needs = [*route.access.scopes, *route.access.roles] if route.access else []
        operation["security"] = [{SECURITY_SCHEME: needs}]
    if route.access is not None:
        operation["x-planforge-access"] = route.access.summary
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
    return point_refs(schema, _COMPONENTS)


def schemas_of(model: Model, service: Service) -> dict[str, Any]:
    """The named schemas a service's routes need (transitively), in manifest order, Problem included."""
    known = with_problem(model)
    return {name: known[name] for name in service.schemas if name in known}


def pointed_schemas(model: Model) -> dict[str, Any]:
    """Every named schema (Problem included) as component_refs gives it, by name, in manifest order."""
    known = {"Problem": PROBLEM, **{name: schema.value for name, schema in model.schemas}}
    return {name: component_refs(schema) for name, schema in known.items()}


def _components(service: Service, pointed: dict[str, Any]) -> dict[str, Any]:
    """The components/schemas of a service: what schemas_of names, from pointed."""
    return {name: pointed[name] for name in service.schemas if name in pointed}
