"""PF510-PF512: what the end-to-end tests need from the manifest (testing.auth, the sources of path parameters),
and scenarios that cannot apply.

These rules read the built model through planforge.testplan, the module the e2e target renders from, so a
scenario is refused here for exactly the reason the target would not generate it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.model import Model
from planforge.pathsources import unresolved
from planforge.rules.manifest import Manifest
from planforge.testplan import AuthRoute, auth, plan_scenarios

__all__ = ["check_model"]


def check_model(model: Model, m: Manifest) -> Iterator[Diagnostic]:
    """testing.auth routes the tests can use; every declared scenario generated or explained; every path
    parameter of a call the tests make with a source."""
    yield from _auth(model, m)
    yield from _sources(model, m)
    for refusal in plan_scenarios(model)[1]:
        yield m.warning(
            "PF511",
            ("testing", "scenarios", refusal.index),
            f"{refusal.kind} scenario '{refusal.name}' is not generated: {refusal.reason}",
            refusal.hint,
        )


def _sources(model: Model, m: Manifest) -> Iterator[Diagnostic]:
    for service in model.services:
        for index, raw in enumerate(m.routes(service.name)):
            for name, parameter in raw.get("parameters", {}).items():
                if "source" in parameter and parameter.get("in") != "path":
                    yield m.error(
                        "PF512",
                        ("services", service.name, "routes", index, "parameters", name, "source"),
                        f"'{name}' is a query parameter: source says where a path parameter's value comes from",
                        "remove source, or make the parameter in: path",
                        key=True,
                    )
    for problem in unresolved(model):
        route = problem.route
        index = next(i for i, raw in enumerate(m.routes(route.service)) if raw.get("id") == route.id)
        where: tuple[str | int, ...] = ("services", route.service, "routes", index)
        declared = problem.parameter in m.routes(route.service)[index].get("parameters", {})
        where += ("parameters", problem.parameter) if declared else ("path",)
        yield m.error(
            "PF512",
            where,
            f"the e2e tests call {problem.call}, and its path parameter '{problem.parameter}' has no value to take: "
            f"{problem.reason}",
            "declare source: {service: <service>, route: <route id>, field: <response property>} on the parameter, "
            "or source: client when the client chooses the value",
            key=declared,
        )


def _auth(model: Model, m: Manifest) -> Iterator[Diagnostic]:
    found = auth(model)
    if found is None:
        return
    yield from _route(model, m, "token", found.token)
    if found.subject is None:
        return
    yield from _route(model, m, "subject", found.subject)
    token, subject = found.token.resolved, found.subject.resolved
    if token is None or subject is None or token.request is None:
        return
    needed = set(_schema(model, token.request).get("required", []))
    given = set(_schema(model, subject.request).get("properties", {})) if subject.request else set()
    missing = sorted(needed - given)
    if missing:
        yield m.error(
            "PF510",
            ("testing", "auth", "subject", "route"),
            f"the token route {found.token.route} needs {', '.join(missing)}, which the request of "
            f"{found.subject.route} does not carry, so the credentials of a new subject cannot sign in",
            "name the sign-up route, whose request holds the sign-in fields",
        )


def _route(model: Model, m: Manifest, role: str, ref: AuthRoute) -> Iterator[Diagnostic]:
    route = ref.resolved
    if route is None:
        return  # PF201 / PF208
    where = ("testing", "auth", role)
    if ref.call is None:
        yield m.error(
            "PF510",
            (*where, "route"),
            f"{ref.service}.{ref.route} is not served by the gateway, so a client cannot call it",
            "route its path through a gateway route, or name another route",
        )
    elif not route.public:
        yield m.error(
            "PF510",
            (*where, "route"),
            f"{ref.service}.{ref.route} needs a token itself, so a client without one cannot call it",
            "make the route public: true",
        )
    properties = _schema(model, route.success.schema).get("properties", {}) if route.success.schema else {}
    if ref.field not in properties:
        shown = ", ".join(sorted(properties)) or "none"
        yield m.error(
            "PF510",
            (*where, "field"),
            f"the success response of {ref.service}.{ref.route} has no property '{ref.field}'",
            f"its properties: {shown}",
        )
    elif role == "token" and properties[ref.field].get("type") not in ("string", None):
        yield m.error(
            "PF510",
            (*where, "field"),
            f"'{ref.field}' of {ref.service}.{ref.route}'s response is not a string, so it cannot hold a JWT",
            "name the property that holds the token",
        )


def _schema(model: Model, name: str | None) -> dict[str, Any]:
    """A named schema's JSON (empty for none or a built-in)."""
    value = dict(model.schemas).get(name or "")
    return dict(value.value) if value is not None else {}
