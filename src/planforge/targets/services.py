"""FastAPI services with a generation gap: services/<package>/ for every service, and their contract tests.

planforge owns app.py (routes from the manifest), models.py (pydantic v2 models generated from the
schemas by planforge's emitter, pyschema) and the dependency list; a person owns impl/<operation>.py,
created once as a stub that the app imports lazily (a missing one answers 501). Behaviour shared by
every service lives in planforge_runtime; the generated code only passes configuration to it.
Python source is laid out here exactly as ruff format would lay it out, so it needs no formatter.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planforge.conventions import RUNTIME_REQUIREMENT, TESTKIT_REQUIREMENT
from planforge.escape import py_doc
from planforge.model import DEFAULT_JWT_LEEWAY, Model, Parameter, Route, Service
from planforge.schemawalk import resolve
from planforge.targets import Output
from planforge.targets.named import referenced_names, with_problem
from planforge.targets.pylayout import Seq, assignment, code, import_block, kw, literal, py_str, tuple_of
from planforge.targets.pymodels import feature_models, python_models
from planforge.targets.service_clients import CalledRoute, ClientArgument, called_routes, called_schemas, clients_module
from planforge.targets.service_events import (
    consumer_stubs,
    events_contract_tests,
    events_module,
    has_events,
    topology_json,
)
from planforge.templating import render_template

__all__ = ["render"]

_RESERVED = frozenset({"ctx", "body", "operations"})
_PY_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}
_FORMATS = {"uuid": ("UUID", "from uuid import UUID"), "date-time": ("datetime", "from datetime import datetime")}
_FORMATS["date"] = ("date", "from datetime import date")
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
}


def render(model: Model) -> Output:
    """Every service's package, the root tool configuration, and one contract test module per service."""
    owned: dict[str, str] = {
        "pyproject.toml": render_template("services/pyproject.toml.j2", model=model),
        "tests/requirements.txt": render_template(
            "services/tests/requirements.txt.j2", testkit_requirement=TESTKIT_REQUIREMENT
        ),
    }
    user: dict[str, str] = {}
    feature = feature_models(model)
    for service in model.services:
        root = f"services/{service.package}"
        models = python_models(feature, model, service, py_doc(service.title), called_schemas(model, service))
        named = model.named_schemas()
        called = [_called(callee, route, models.classes, named) for callee, route in called_routes(model, service)]
        clients = clients_module(service, called)
        if clients is not None:
            owned[f"{root}/clients.py"] = clients
        endpoints = [_endpoint(route, models.classes, named) for route in service.routes]
        owned[f"{root}/__init__.py"] = render_template(
            "services/__init__.py.j2", service=service, title=py_doc(service.title)
        )
        owned[f"{root}/app.py"] = _app(model, service, endpoints)
        owned[f"{root}/models.py"] = models.source
        bodies = _bodies(model, service)
        if bodies is not None:
            owned[f"{root}/contract.py"] = render_template(
                "services/contract.py.j2", title=py_doc(service.title), bodies=bodies
            )
        owned[f"{root}/requirements.txt"] = render_template(
            "services/requirements.txt.j2", service=service, runtime_requirement=RUNTIME_REQUIREMENT
        )
        owned[f"tests/test_{service.package}_contract.py"] = _contract_tests(model, service)
        user[f"{root}/impl/__init__.py"] = render_template("services/impl/__init__.py.j2", title=py_doc(service.title))
        for endpoint in endpoints:
            user[f"{root}/impl/{endpoint.module}.py"] = _stub(endpoint)
        if has_events(service):
            owned[f"{root}/events.py"] = events_module(model, service, py_doc(service.title), models.events)
            owned[f"{root}/topology.json"] = topology_json(model, service)
            user |= {f"{root}/impl/{stub.module}.py": stub.source for stub in consumer_stubs(service, models.events)}
    contract = events_contract_tests(model, py_doc(model.name))
    if contract is not None:
        owned["tests/test_events_contract.py"] = contract
    return Output(owned=owned, user=user)


# --- Endpoints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    """A parameter of an endpoint and of its handler."""

    name: str
    annotation: str
    marker: Seq
    optional: bool
    parameter: str = ""
    checked: str | None = None  # the format the runtime checks on the raw value (pydantic's parsing is laxer)


@dataclass
class Endpoint:
    """What app.py and the handler stub need to know about one route."""

    route: Route
    module: str
    status: int
    returns: str
    body: str | None
    arguments: list[Argument]
    responses: list[tuple[str, str]]
    stdlib: set[str] = field(default_factory=set)


def identifier(name: str, taken: set[str]) -> str:
    """A snake_case Python identifier for a manifest name, never a keyword nor one already taken."""
    candidate = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    while keyword.iskeyword(candidate) or keyword.issoftkeyword(candidate) or candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def handler_module(route: Route) -> str:
    """impl/<this>.py holds the route's handler."""
    return route.id + "_" if keyword.iskeyword(route.id) or keyword.issoftkeyword(route.id) else route.id


def _endpoint(route: Route, classes: dict[str, str], named: Mapping[str, Any]) -> Endpoint:
    taken = set(_RESERVED)
    stdlib: set[str] = set()
    arguments = [_argument(p, identifier(p.name, taken), stdlib, named) for p in route.parameters]
    arguments.sort(key=lambda a: a.optional)
    success = route.success
    returns = f"models.{classes[success.schema]}" if success.schema else "None"
    responses = []
    for status, schema in route.answers:
        if status == str(success.status):
            continue
        key = '"default"' if status == "default" else status
        if schema == "Problem":
            responses.append((key, "PROBLEM"))
        elif schema is None:
            responses.append((key, f'{{"description": {py_str(status)}}}'))
        else:
            responses.append((key, f'{{"model": models.{classes[schema]}}}'))
    body = f"models.{classes[route.request]}" if route.request else None
    return Endpoint(route, handler_module(route), success.status, returns, body, arguments, responses, stdlib)


def _called(callee: Service, route: Route, classes: dict[str, str], named: Mapping[str, Any]) -> CalledRoute:
    """A route the service calls, typed as the callee's endpoint types it, with the caller's model classes."""
    taken = {"self", "body"}
    stdlib: set[str] = set()
    arguments = tuple(
        ClientArgument(argument.name, argument.annotation, p.name, p.location, argument.optional)
        for p in route.parameters
        for argument in (_argument(p, identifier(p.name, taken), stdlib, named),)
    )
    body = f"models.{classes[route.request]}" if route.request else None
    returns = f"models.{classes[route.success.schema]}" if route.success.schema else "None"
    return CalledRoute(callee, route, arguments, body, returns, frozenset(stdlib))


def _argument(parameter: Parameter, name: str, stdlib: set[str], named: Mapping[str, Any]) -> Argument:
    """The endpoint argument of a parameter, typed and constrained by its schema ('$ref's followed)."""
    schema = resolve(parameter.schema.value, named)
    annotation = _annotation(schema, stdlib, parameter.location == "query", named)
    marker_items: list[Seq | str] = [f"alias={py_str(parameter.name)}"]
    for key, argument in _CONSTRAINTS.items():
        value = schema.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str) and key == "pattern":
            marker_items.append(f"{argument}={py_str(value)}")
        elif isinstance(value, int | float):
            marker_items.append(f"{argument}={value!r}")
    if parameter.description:
        marker_items.append(f"description={py_str(parameter.description)}")
    marker = Seq("Path" if parameter.location == "path" else "Query", tuple(marker_items))
    optional = not parameter.required
    checked = _checked_format(schema, named)
    annotation = f"{annotation} | None" if optional else annotation
    return Argument(name, annotation, marker, optional, parameter.name, checked)


def _checked_format(schema: Any, named: Mapping[str, Any]) -> str | None:
    """The format of a parameter (of its items, for a repeated query parameter) parsed into a Python type."""
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = resolve(schema.get("items", {}), named)
    if not isinstance(schema, dict) or schema.get("type") != "string" or schema.get("enum"):
        return None
    return schema["format"] if schema.get("format") in _FORMATS else None


def _annotation(schema: Any, stdlib: set[str], query: bool, named: Mapping[str, Any]) -> str:
    """The Python type of a parameter schema (what its value is parsed into)."""
    schema = resolve(schema, named)
    if not isinstance(schema, dict):
        return "str"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int) and not isinstance(v, bool) for v in enum):
        stdlib.add("from typing import Literal")
        return f"Literal[{', '.join(py_str(v) if isinstance(v, str) else str(v) for v in enum)}]"
    kind = schema.get("type")
    if kind == "array" and query:
        return f"list[{_annotation(schema.get('items', {}), stdlib, False, named)}]"
    if kind == "string" and schema.get("format") in _FORMATS:
        name, line = _FORMATS[schema["format"]]
        stdlib.add(line)
        return name
    return _PY_TYPES.get(kind, "str") if isinstance(kind, str) else "str"


def _signature(endpoint: Endpoint, context: Seq | str) -> list[Seq | str]:
    # Keyword-only: optional parameters (with a default) may come before required ones and the body.
    items: list[Seq | str] = [Seq("ctx: Annotated", ("Context", Seq("Depends", (context,))), "[]"), "*"]
    for argument in endpoint.arguments:
        default = " = None" if argument.optional else ""
        metadata: tuple[Seq | str, ...] = (argument.annotation, argument.marker)
        if argument.checked:
            metadata += (Seq("checked_format", (py_str(argument.checked),)),)
        items.append(Seq(f"{argument.name}: Annotated", metadata, "[]", default))
    if endpoint.body:
        items.append(f"body: {endpoint.body}")
    return items if len(items) > 2 else items[:1]


def _context(route: Route) -> Seq | str:
    """The dependency that makes the handler's Context: public, authenticated, or authorized by the route's access."""
    if route.public:
        return "operations.public"
    access = route.access
    if access is None:
        return "operations.authenticated"
    rule: list[Seq | str] = [f"owner={py_str(access.owner)}"] if access.owner else []
    rule += [kw("scopes", tuple_of([py_str(s) for s in access.scopes]))] if access.scopes else []
    rule += [kw("roles", tuple_of([py_str(r) for r in access.roles]))] if access.roles else []
    return Seq("operations.authorized", tuple(rule))


def _decorator(endpoint: Endpoint) -> str:
    route = endpoint.route
    responses = Seq("", tuple(f"{key}: {value}" for key, value in endpoint.responses), "{}")
    items: list[Seq | str] = [
        py_str(route.path),
        f"operation_id={py_str(route.id)}",
        f"summary={py_str(route.summary or route.id)}",
        f"status_code={endpoint.status}",
        f"response_model={endpoint.returns}",
        "response_model_exclude_unset=True",
        kw("responses", responses),
    ]
    return code(Seq(f"@router.{route.method.lower()}", tuple(items)))


def _function(endpoint: Endpoint, endpoints: dict[str, Endpoint]) -> dict[str, str]:
    route = endpoint.route
    context = _context(route)
    signature = Seq(f"async def op_{route.id}", tuple(_signature(endpoint, context)), "()", " -> Any:")
    arguments = [f"{a.name}={a.name}" for a in endpoint.arguments] + (["body=body"] if endpoint.body else [])
    head: list[Seq | str] = ["ctx", py_str(endpoint.module), str(endpoint.status)]
    method = "call"
    if route.etag == "read":
        method = "read"
    elif route.etag == "update" and route.etag_read in endpoints:
        method = "update"
        head.append(_read_call(endpoint, endpoints[route.etag_read]))
    call = Seq(f"return await operations.{method}", (*head, *arguments))
    return {"decorator": _decorator(endpoint), "signature": code(signature), "call": code(call, 4)}


def _read_call(update: Endpoint, reader: Endpoint) -> Seq:
    """("<read module>", {read argument: value}): the read route's call for the resource an update changes
    (the i-th path parameter of one is the i-th of the other; the read's optional query parameters are None)."""
    by_name = {a.parameter: a.name for a in update.arguments}
    update_path = [by_name[p.name] for p in update.route.path_parameters]
    read_path = [p.name for p in reader.route.path_parameters]
    values: list[Seq | str] = []
    for argument in reader.arguments:
        value = update_path[read_path.index(argument.parameter)] if argument.parameter in read_path else "None"
        values.append(f"{py_str(argument.name)}: {value}")
    return Seq("", (py_str(reader.module), Seq("", tuple(values), "{}")), is_tuple=True)


def _app(model: Model, service: Service, endpoints: list[Endpoint]) -> str:
    stdlib = {"from typing import Annotated, Any"} if endpoints else set()
    fastapi = {"from fastapi import APIRouter, FastAPI"}
    runtime = {"from planforge_runtime import Operations, ServiceConfig, Settings, create_app"}
    for endpoint in endpoints:
        stdlib |= endpoint.stdlib
        fastapi.add("from fastapi import Depends")
        fastapi |= {f"from fastapi import {a.marker.head}" for a in endpoint.arguments}
        runtime.add("from planforge_runtime import Context")
        if any(a.checked for a in endpoint.arguments):
            runtime.add("from planforge_runtime import checked_format")
        if any(value == "PROBLEM" for _, value in endpoint.responses):
            runtime.add("from planforge_runtime import PROBLEM")
    config, config_imports = _config(model, service)
    uses_models = any(
        "models." in e.returns or e.body or any("models." in v for _, v in e.responses) for e in endpoints
    )
    local = {"from . import models"} if uses_models else set()
    local |= {"from .events import EVENTS"} if has_events(service) else set()
    has_bodies = any(e.body for e in endpoints)
    local |= {"from .contract import BODIES"} if has_bodies else set()
    imports = import_block(stdlib, fastapi | runtime | config_imports, local)
    return render_template(
        "services/app.py.j2",
        service=service,
        title=py_doc(service.title),
        imports=imports,
        config=config,
        functions=[_function(e, {e.route.id: e for e in endpoints}) for e in endpoints],
        operations="operations = Operations(__package__, BODIES)"
        if has_bodies
        else "operations = Operations(__package__)",
        events=has_events(service),
    )


def _bodies(model: Model, service: Service) -> str | None:
    """BODIES = RequestBodies(...): each operation's request schema name, and the named schemas they need."""
    requests = {route.id: route.request for route in service.routes if route.request}
    if not requests:
        return None
    named = with_problem(model)
    needed = referenced_names(model, [{"$ref": name} for name in requests.values()], problem=True)
    schemas = {name: named[name] for name in needed}
    # (operation, schema) pairs rather than a dict: bandit reads a dict key such as "issue_token" as the name of a
    # hard-coded password (B105), and these are manifest names, never secrets.
    pairs = tuple(requests.items())
    return code(Seq("BODIES = RequestBodies", (literal(pairs), literal(schemas))))


# --- Configuration ---------------------------------------------------------------------------


def _config(model: Model, service: Service) -> tuple[str, set[str]]:
    """The ServiceConfig(...) literal of a service: its manifest facts, for the runtime."""
    imports: set[str] = set()
    datastores: list[Seq | str] = []
    for name in service.uses:
        store = next((d for d in model.datastores if d.name == name), None)
        if store is not None:
            owned = ("owned=True",) if name in service.owns else ()
            datastores.append(Seq("DatastoreConfig", (f"name={py_str(name)}", f"kind={py_str(store.kind)}", *owned)))
    caches: list[Seq | str] = [
        Seq(
            "CacheConfig",
            (
                f"name={py_str(c.name)}",
                f"ttl_seconds={c.ttl_seconds!r}",
                kw("invalidated_by", tuple_of([py_str(e) for e in c.invalidated_by])),
            ),
        )
        for c in model.caches
        if c.name in service.caches or any(route.startswith(service.name + ".") for route in c.routes)
    ]
    imports |= {"from planforge_runtime import DatastoreConfig"} if datastores else set()
    imports |= {"from planforge_runtime import CacheConfig"} if caches else set()
    imports.add("from planforge_runtime import BreakerConfig")
    gateway = model.gateway
    breaker = model.breaker
    items: list[Seq | str] = [
        f"name={py_str(service.name)}",
        f"title={py_str(service.title)}",
        f"package={py_str(service.package)}",
        f"summary={py_str(service.summary)}",
        kw("datastores", tuple_of(datastores)),
        kw("jwt_algorithms", tuple_of([py_str(a) for a in (gateway.jwt_algorithms if gateway else ())] or ['"RS256"'])),
        f"jwt_issuer={py_str(gateway.jwt_issuer) if gateway and gateway.jwt_issuer else None}",
        f"jwt_audience={py_str(gateway.jwt_audience) if gateway and gateway.jwt_audience else None}",
        f"jwt_leeway={gateway.jwt_leeway if gateway else DEFAULT_JWT_LEEWAY}",
        kw("pii_fields", tuple_of([py_str(f) for f in _pii(model)])),
        kw("caches", tuple_of(list(caches))),
        kw(
            "breaker",
            Seq(
                "BreakerConfig",
                (
                    f"failure_rate={breaker.failure_rate!r}",
                    f"window={breaker.window!r}",
                    f"half_open_after={breaker.half_open_after!r}",
                    f"minimum_calls={breaker.minimum_calls!r}",
                ),
            ),
        ),
        f"correlation_header={py_str(model.correlation_header)}",
        f"call_timeout={model.call_timeout!r}",
    ]
    if service.owns and has_events(service):  # its outbox: published rows are deleted after the retention
        items.append(f"outbox_retention_seconds={model.outbox_retention!r}")
    return code(Seq("CONFIG = ServiceConfig", tuple(items))), imports


def _pii(model: Model) -> list[str]:
    return sorted({name for event in model.events for name in event.pii})


# --- User-owned stubs ----------------------------------------------------------------------------


def _stub(endpoint: Endpoint) -> str:
    route = endpoint.route
    items: list[Seq | str] = ["ctx: Context", "*"]
    items += [f"{a.name}: {a.annotation}" for a in endpoint.arguments]
    if endpoint.body:
        items.append(f"body: {endpoint.body}")
    returns = f" -> {endpoint.returns} | Reply:"
    if len(items) == 2:
        items.pop()
    signature = Seq("async def handle", tuple(items), "()", returns)
    uses_models = "models." in endpoint.returns or bool(endpoint.body)
    imports = import_block(
        endpoint.stdlib if endpoint.arguments else set(),
        {"from planforge_runtime import Context, Reply"},
        {"from .. import models"} if uses_models else set(),
    )
    return render_template(
        "services/impl/handler.py.j2",
        route=route,
        summary=py_doc(route.summary or route.id),
        method=route.method,
        path=py_doc(route.path),
        imports=imports,
        signature=code(signature),
    )


# --- Contract tests ---------------------------------------------------------------------------------


def _contract_tests(model: Model, service: Service) -> str:
    """tests/test_<package>_contract.py: the app in-process against openapi/<service>.yaml."""
    named = model.named_schemas()
    requests = [(route, _concrete_path(route, named)) for route in service.routes]
    secured = [Seq("", (py_str(r.method), py_str(p))) for r, p in requests if not r.public]
    with_body = [Seq("", (py_str(r.method), py_str(p))) for r, p in requests if r.request]
    constants = []
    if requests:
        items = tuple(Seq("", (py_str(r.id), py_str(r.method), py_str(p))) for r, p in requests)
        constants.append(code(Seq("REQUESTS = ", items, "[]")))
    if secured:
        constants.append(code(Seq("SECURED = ", tuple(secured), "[]")))
    if with_body:
        constants.append(code(Seq("WITH_BODY = ", tuple(with_body), "[]")))
    return render_template(
        "services/tests/test_contract.py.j2",
        service=service,
        title=py_doc(service.title),
        contract_path=f"openapi/{service.name}.yaml",
        contract=py_str(f"openapi/{service.name}.yaml"),
        constants="\n".join(constants),
        has_secured=bool(secured),
        has_body=bool(with_body),
        checks=_checks(service),
    )


# What schemathesis's positive data acceptance check allows by default.
_ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")


# What its missing required header check allows by default.
_MISSING_HEADER = ("400", "401", "403", "406", "415", "422")


def _checks(service: Service) -> str:
    """CHECKS = {...}: schemathesis's check settings; ETag updates may answer 412 to valid data (another
    version) and 428 to a missing If-Match."""
    if not any(r.etag == "update" for r in service.routes):
        return assignment("CHECKS", {"positive_data_acceptance": {"expected-statuses": list(_ACCEPTED)}})
    checks = {
        "positive_data_acceptance": {"expected-statuses": sorted({*_ACCEPTED, "412"})},
        "missing_required_header": {"expected-statuses": sorted({*_MISSING_HEADER, "428"})},
    }
    return assignment("CHECKS", checks)


def _concrete_path(route: Route, named: Mapping[str, Any]) -> str:
    """The route's path with a value for each parameter that its schema accepts."""
    path = route.path
    for parameter in route.parameters:
        if parameter.location == "path":
            path = path.replace("{" + parameter.name + "}", _sample(resolve(parameter.schema.value, named)))
    query = {
        p.name: _sample(resolve(p.schema.value, named))
        for p in route.parameters
        if p.location == "query" and p.required
    }
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return path


def _sample(schema: Any) -> str:
    """A value a path or query parameter accepts (for requests that must get past parsing)."""
    if not isinstance(schema, dict):
        return "x"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return str(int(schema.get("minimum", 1)))
    if kind == "boolean":
        return "true"
    samples = {
        "uuid": "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11",
        "date-time": "2025-01-15T09:00:00Z",
        "date": "2025-01-15",
    }
    if schema.get("format") in samples:
        return samples[schema["format"]]
    return "x" * max(1, int(schema.get("minLength", 1)))
