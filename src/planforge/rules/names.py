"""PF701-PF704, PF710, PF713: names that become identifiers, databases, files and ports are safe and distinct."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from planforge.build import FIRST_PORT, flow_slug, node_id, python_name
from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.paths import normalized, path_parameters
from planforge.rules.identifiers import class_problem, handler_problem, package_problem, parameter_problem
from planforge.rules.manifest import BUILTIN_SCHEMAS, Manifest

__all__ = ["check"]

_RESERVED_NODES = {"CLIENT": "the client", "GATEWAY": "the API gateway"}
# Databases every PostgreSQL server has: a datastore of that name would use (and its tests drop) them.
_SERVER_DATABASES = frozenset({"postgres", "template0", "template1"})


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Duplicate routes, unsafe identifiers, colliding Python names and ports."""
    for service in m.services:
        yield from _duplicate_routes(m, service)
    yield from _unsafe_names(m)
    yield from _reserved_databases(m)
    yield from _collisions(m)
    yield from _ports(m)


def _duplicate_routes(m: Manifest, service: str) -> Iterator[Diagnostic]:
    ids: dict[str, int] = {}
    endpoints: dict[tuple[str, str], int] = {}
    for index, route in enumerate(m.routes(service)):
        path: JsonPath = ("services", service, "routes", index)
        if route["id"] in ids:
            yield m.error(
                "PF701",
                (*path, "id"),
                f"{service} already has a route with operation id '{route['id']}' (routes[{ids[route['id']]}])",
                "operation ids name handler functions; make them unique",
            )
        endpoint = (route["method"], normalized(route["path"]))
        if endpoint in endpoints:
            yield m.error(
                "PF702",
                (*path, "path"),
                f"{service} already serves {route['method']} {route['path']} (routes[{endpoints[endpoint]}])",
                "two routes cannot share a method and path",
            )
        ids.setdefault(route["id"], index)
        endpoints.setdefault(endpoint, index)


def _unsafe_names(m: Manifest) -> Iterator[Diagnostic]:
    for name in m.services:
        why = package_problem(python_name(name))
        if why:
            yield m.error(
                "PF703",
                ("services", name),
                f"service '{name}' becomes Python package '{python_name(name)}', {why}",
                f"rename it, e.g. '{name}-service'",
                key=True,
            )
    for name in m.schemas:
        why = class_problem(name)
        if why:
            yield m.error(
                "PF703",
                ("schemas", name),
                f"schema '{name}' names a model class, and '{name}' is {why}",
                f"rename it, e.g. '{name}Body'",
                key=True,
            )
    for service, index, route in m.service_routes():
        yield from _unsafe_route_names(m, ("services", service, "routes", index), route)


def _reserved_databases(m: Manifest) -> Iterator[Diagnostic]:
    for name, spec in m.datastores.items():
        database = python_name(name)  # what targets.deploy.database_name makes of it
        if spec.get("kind") == "postgres" and database in _SERVER_DATABASES:
            yield m.error(
                "PF713",
                ("datastores", name),
                f"datastore '{name}' becomes database '{database}', which every PostgreSQL server already has",
                f"rename it, e.g. '{name}-db'",
                key=True,
            )


def _unsafe_route_names(m: Manifest, path: JsonPath, route: dict[str, Any]) -> Iterator[Diagnostic]:
    handler = route["id"]
    why = handler_problem(handler)
    if why:
        yield m.error(
            "PF703",
            (*path, "id"),
            f"operation id '{handler}' names the handler function, and '{handler}' is {why}",
            f"rename it, e.g. '{handler}_{route['method'].lower()}'",
        )
    declared: dict[str, Any] = route.get("parameters", {})
    for name in dict.fromkeys([*path_parameters(route["path"]), *declared]):
        why = parameter_problem(name)
        if why:
            where: JsonPath = (*path, "parameters", name) if name in declared else (*path, "path")
            yield m.error(
                "PF703",
                where,
                f"parameter '{name}' becomes a handler argument, and '{name}' is {why}",
                f"rename it, e.g. '{name}Value'",
                key=name in declared,
            )


def _collisions(m: Manifest) -> Iterator[Diagnostic]:
    yield from _builtin_schemas(m)
    yield from _same_after(m, "schema", "schemas", m.schemas, str.lower, "differ only in case")
    yield from _same_after(m, "event", "events", m.events, python_name, "have the same Python name")
    for name in m.services:
        if node_id(name) in _RESERVED_NODES:
            yield m.error(
                "PF704",
                ("services", name),
                f"service '{name}' has diagram id {node_id(name)}, which {_RESERVED_NODES[node_id(name)]} uses",
                f"rename it, e.g. '{name}-service'",
                key=True,
            )
    for name in m.datastores:
        if name in m.services or node_id(name) in _RESERVED_NODES:
            yield m.error(
                "PF704",
                ("datastores", name),
                f"datastore '{name}' has diagram id {node_id(name)}, which "
                + (f"service '{name}' also has" if name in m.services else _RESERVED_NODES[node_id(name)] + " uses"),
                f"rename it, e.g. '{name}-db'",
                key=True,
            )
    flows = {index: flow_slug(flow["name"], index) for index, flow in enumerate(m.flows)}
    yield from _flow_slugs(m, flows)


def _builtin_schemas(m: Manifest) -> Iterator[Diagnostic]:
    """A declared schema named like a built-in one would replace it (Problem: every error answer's body)."""
    for name in m.schemas:
        builtin = next((b for b in BUILTIN_SCHEMAS if b.lower() == name.lower()), None)
        if builtin is not None:
            how = "is the name of" if builtin == name else "differs only in case from"
            yield m.error(
                "PF704",
                ("schemas", name),
                f"schema '{name}' {how} the built-in schema '{builtin}', the body of every error answer",
                f"rename it; routes answer errors with the built-in {builtin}",
                key=True,
            )


def _same_after(
    m: Manifest, kind: str, section: str, names: Iterable[str], convert: Callable[[str], str], why: str
) -> Iterator[Diagnostic]:
    """Names whose converted form equals an earlier name's, reported at the later name."""
    seen: dict[str, str] = {}
    for name in names:
        converted = convert(name)
        earlier = seen.setdefault(converted, name)
        if earlier != name:
            yield m.error(
                "PF704",
                (section, name),
                f"{kind}s '{earlier}' and '{name}' {why} ('{converted}')",
                "rename one of them",
                key=True,
            )


def _flow_slugs(m: Manifest, slugs: dict[int, str]) -> Iterator[Diagnostic]:
    seen: dict[str, int] = {}
    for index, slug in slugs.items():
        earlier = seen.setdefault(slug, index)
        if earlier != index and m.flows[earlier]["name"] != m.flows[index]["name"]:
            yield m.error(
                "PF704",
                ("flows", index, "name"),
                f"flow '{m.flows[index]['name']}' and flow '{m.flows[earlier]['name']}' have the same slug '{slug}'",
                "rename one of them",
            )


def _ports(m: Manifest) -> Iterator[Diagnostic]:
    seen: dict[int, str] = {}
    for index, (name, spec) in enumerate(sorted(m.services.items())):
        port = spec.get("port", FIRST_PORT + index)
        earlier = seen.setdefault(port, name)
        if earlier != name:
            late, first = (name, earlier) if "port" in spec else (earlier, name)
            how = "" if "port" in m.services[first] else " (its port is derived from the order of the services)"
            yield m.error(
                "PF710",
                ("services", late, "port"),
                f"{late} listens on port {port}, which {first} also uses{how}",
                "give each service its own port",
            )
