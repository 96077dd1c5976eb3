"""PF701-PF704, PF710: names that become Python identifiers, files and ports must be valid and distinct."""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from collections.abc import Callable, Iterable, Iterator

from planforge.build import FIRST_PORT, node_id, python_name
from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.rules.manifest import Manifest
from planforge.rules.paths import normalized, path_parameters

__all__ = ["check"]

_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# Modules and module-level names of generated services that a handler function must not shadow.
_SERVICE_MODULE_NAMES = frozenset(
    {
        "asyncio",
        "contextlib",
        "datetime",
        "enum",
        "functools",
        "json",
        "logging",
        "os",
        "re",
        "sys",
        "time",
        "typing",
        "uuid",
        "fastapi",
        "pydantic",
        "starlette",
        "httpx",
        "aio_pika",
        "redis",
        "asyncpg",
        "app",
        "router",
        "settings",
        "logger",
        "lifespan",
    }
)
# Third-party packages generated code imports: a service package of that name would hide them.
_THIRD_PARTY = frozenset(
    {
        "fastapi",
        "pydantic",
        "starlette",
        "uvicorn",
        "httpx",
        "aio_pika",
        "aiormq",
        "pika",
        "redis",
        "asyncpg",
        "sqlalchemy",
        "psycopg",
        "pytest",
        "jinja2",
        "yaml",
        "jsonschema",
        "anyio",
        "planforge",
        "tests",
        "conftest",
    }
)
# Class names a generated models or service module imports: a schema of that name would hide them.
_MODEL_NAMES = frozenset(
    {
        "Any",
        "Optional",
        "Union",
        "Literal",
        "Annotated",
        "List",
        "Dict",
        "Enum",
        "UUID",
        "Decimal",
        "BaseModel",
        "Field",
        "ConfigDict",
        "RootModel",
        "EmailStr",
        "AnyUrl",
        "AwareDatetime",
        "FastAPI",
        "APIRouter",
        "Request",
        "Response",
        "HTTPException",
        "Depends",
        "Header",
        "Query",
        "Path",
        "Body",
    }
)
_RESERVED_NODES = {"CLIENT": "the client", "GATEWAY": "the API gateway"}


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Duplicate routes, unsafe identifiers, colliding Python names and ports."""
    for service in m.services:
        yield from _duplicate_routes(m, service)
    yield from _unsafe_names(m)
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
        package = python_name(name)
        if keyword.iskeyword(package) or package in sys.stdlib_module_names or package in _THIRD_PARTY:
            yield m.error(
                "PF703",
                ("services", name),
                f"service '{name}' becomes Python package '{package}', "
                "which is a keyword or hides a module generated code imports",
                f"rename it, e.g. '{name}-service'",
                key=True,
            )
    for name in m.schemas:
        if name in _BUILTINS or name in _MODEL_NAMES:
            yield m.error(
                "PF703",
                ("schemas", name),
                f"schema '{name}' would hide the Python name '{name}' that generated code uses",
                f"rename it, e.g. '{name}Body'",
                key=True,
            )
    for service, index, route in m.service_routes():
        yield from _unsafe_route_names(m, ("services", service, "routes", index), route)


def _unsafe_route_names(m: Manifest, path: JsonPath, route: dict[str, object]) -> Iterator[Diagnostic]:
    handler = str(route["id"])
    if keyword.iskeyword(handler) or handler in _BUILTINS or handler in _SERVICE_MODULE_NAMES:
        yield m.error(
            "PF703",
            (*path, "id"),
            f"operation id '{handler}' names the handler function, and '{handler}' "
            "is a Python keyword, builtin or name of the service module",
            f"rename it, e.g. 'do_{handler}'",
        )
    declared = route.get("parameters")
    for name in [*path_parameters(str(route["path"])), *(declared if isinstance(declared, dict) else {})]:
        if keyword.iskeyword(name):
            where: JsonPath = (
                (*path, "parameters", name) if isinstance(declared, dict) and name in declared else (*path, "path")
            )
            yield m.error(
                "PF703",
                where,
                f"parameter '{name}' becomes a handler argument, but it is a Python keyword",
                f"rename it, e.g. '{name}Value'",
                key=where[-1] != "path",
            )


def _collisions(m: Manifest) -> Iterator[Diagnostic]:
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
                f"datastore '{name}' has diagram id {node_id(name)}, which a service or the client or gateway uses",
                f"rename it, e.g. '{name}-db'",
                key=True,
            )
    flows = {index: _slug(flow["name"], index) for index, flow in enumerate(m.flows)}
    yield from _flow_slugs(m, flows)


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


def _slug(name: str, index: int) -> str:
    """The flow's slug, as the model builder derives it (names test functions and plan anchors)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or f"flow_{index + 1}"


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
            how = "" if "port" in m.services[first] else ", derived from the service order"
            yield m.error(
                "PF710",
                ("services", late, "port"),
                f"{late} listens on port {port}, which {first} also uses{how}",
                "give each service its own port",
            )
