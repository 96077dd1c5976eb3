"""services/<package>/clients.py: a typed client per service that this one calls (the manifest's `calls`).

Each client class is a `planforge_runtime.ServiceClient` naming the callee and the `<PACKAGE>_URL` variable
that compose, k8s and `planforge up` set; each method is one called route, its arguments typed as the callee's
endpoint types them and its body and answer typed with models.py's classes (the caller's models.py holds the
called routes' schemas too). The services target computes the methods; this module lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from planforge.escape import py_doc
from planforge.model import Model, Route, Service
from planforge.targets.named import referenced_names
from planforge.targets.pylayout import Seq, code, import_block, kw, py_str
from planforge.templating import render_template

__all__ = ["CalledRoute", "ClientArgument", "called_routes", "called_schemas", "clients_module", "url_variable"]


@dataclass(frozen=True)
class ClientArgument:
    """One argument of a client method: the Python name and type, the manifest name, path or query, optional."""

    name: str
    annotation: str
    parameter: str
    location: str
    optional: bool


@dataclass(frozen=True)
class CalledRoute:
    """A route another service calls, as its client method needs it."""

    callee: Service
    route: Route
    arguments: tuple[ClientArgument, ...]
    body: str | None  # models.<Class> of the request, or None
    returns: str  # models.<Class> of the success answer, or "None"
    stdlib: frozenset[str]


def url_variable(service: Service) -> str:
    """The environment variable holding a service's base URL for its callers (as deploy and k8s set it)."""
    return f"{service.package.upper()}_URL"


def called_routes(model: Model, service: Service) -> list[tuple[Service, Route]]:
    """The (callee, route) pairs of the service's calls that name a known route, by callee, in manifest order."""
    services = {s.name: s for s in model.services}
    found: list[tuple[Service, Route]] = []
    for call in service.calls:
        callee = services.get(call.target)
        route = next((r for r in callee.routes if r.id == call.route), None) if callee else None
        if callee is not None and route is not None and (callee, route) not in found:
            found.append((callee, route))
    order = [s.name for s in model.services]
    return sorted(found, key=lambda pair: order.index(pair[0].name))


def called_schemas(model: Model, service: Service) -> tuple[str, ...]:
    """The schema names the service's calls send and receive, with those they refer to (in manifest order)."""
    names = [n for _, r in called_routes(model, service) for n in (r.request, r.success.schema) if n]
    return tuple(referenced_names(model, [{"$ref": name} for name in names]))


def clients_module(service: Service, routes: list[CalledRoute]) -> str | None:
    """clients.py of the service (None when it calls nothing)."""
    if not routes:
        return None
    callees = list(dict.fromkeys(r.callee.name for r in routes))
    clients = []
    for name in callees:
        mine = [r for r in routes if r.callee.name == name]
        callee = mine[0].callee
        clients.append(
            {
                "name": _class_name(callee),
                "doc": py_doc(
                    f"{callee.title}: the routes {service.name} calls (base URL from {url_variable(callee)})."
                ),
                "service": callee.name,
                "variable": url_variable(callee),
                "methods": [_method(r) for r in mine],
            }
        )
    stdlib = {line for r in routes if r.arguments for line in r.stdlib}
    uses_models = any(r.body or r.returns != "None" for r in routes)
    imports = import_block(
        stdlib, {"from planforge_runtime import ServiceClient"}, {"from . import models"} if uses_models else set()
    )
    text = render_template("services/clients.py.j2", title=py_doc(service.title), imports=imports, clients=clients)
    return text.rstrip("\n") + "\n"


def _class_name(service: Service) -> str:
    return "".join(part.title() for part in service.package.split("_")) + "Client"


def _method(called: CalledRoute) -> dict[str, str]:
    route = called.route
    items: list[Seq | str] = ["self", "*"]
    ordered = sorted(called.arguments, key=lambda a: a.optional)
    items += [f"{a.name}: {a.annotation}" + (" = None" if a.optional else "") for a in ordered]
    if called.body:
        items.append(f"body: {called.body}")
    if len(items) == 2:
        items.pop()
    signature = Seq(f"async def {route.id}", tuple(items), "()", f" -> {called.returns}:")
    request: list[Seq | str] = [py_str(route.method), py_str(route.path), str(route.success.status)]
    for location, keyword in (("path", "parameters"), ("query", "query")):
        pairs = tuple(f"{py_str(a.parameter)}: {a.name}" for a in called.arguments if a.location == location)
        if pairs:
            request.append(kw(keyword, Seq("", pairs, "{}")))
    if called.body:
        request.append("body=body")
    if called.returns == "None":
        body = code(Seq("await self.send", tuple(request)), 8)
    else:
        body = code(Seq("return await self.call", (called.returns, *request)), 8)
    summary = route.summary or route.id
    return {
        "signature": code(signature, 4),
        "doc": py_doc(
            f"{summary.rstrip('.')} ({route.method} {route.path}); CallFailed unless it answers {route.success.status}."
        ),
        "body": body,
    }
