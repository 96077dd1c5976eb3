"""Where the end-to-end tests take each path parameter's value from: derived from the model, or as declared.

A path parameter's value comes from an earlier call of the same journey: a property of that call's success
response. It is derived only where the model says it without guessing (the creating POST of the route's own
service, `testplan.creator`, answers with a required property named as the parameter); otherwise the parameter
declares it (``source: {service, route, field}``, or ``source: client`` where the client chooses the value).
A path parameter of a call the tests make with neither is refused by PF512, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planforge.model import Model, Parameter, Route
from planforge.schemawalk import resolve
from planforge.testplan import auth, client_call, creator, gateway_routes, plan_scenarios

__all__ = ["Source", "Unresolved", "driven_calls", "path_sources", "unresolved"]

CLIENT = "client"


@dataclass(frozen=True, slots=True)
class Source:
    """Where one path parameter's value comes from: the success response of a gateway call (called first when the
    journey has not made it) and its property; call None when the client chooses the value."""

    call: str | None
    field: str | None
    declared: bool


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A path parameter of a call the tests make whose value has no source, and why."""

    call: str
    route: Route
    parameter: str
    reason: str


def path_sources(model: Model) -> dict[str, dict[str, Source | None]]:
    """Every gateway call's path parameters with their sources (None where there is none)."""
    routes = gateway_routes(model)
    found: dict[str, dict[str, Source | None]] = {}
    for call, route in routes.items():
        resolved = {p.name: _source(model, routes, call, route, p) for p in route.path_parameters}
        found[call] = {name: s if isinstance(s, Source) else None for name, s in resolved.items()}
    return found


def driven_calls(model: Model) -> list[str]:
    """The gateway calls the generated e2e tests make: flows' client steps, scenarios' calls, testing.auth's."""
    calls = {c for flow in model.flows for step in flow.steps if (c := client_call(model, step))}
    for scenario in plan_scenarios(model)[0]:
        calls |= {c for c in (scenario.creator, scenario.read, scenario.update) if c}
        actions = (*scenario.before, *scenario.after)
        calls |= {a.args[0] for a in actions if a.method in ("call", "read_back", "unavailable")}
    found = auth(model)
    if found is not None:
        calls |= {r.call for r in (found.token, found.subject) if r is not None and r.call}
    return sorted(calls)


def unresolved(model: Model) -> list[Unresolved]:
    """The path parameters of driven calls (and of the calls their sources make) without a source, in call order."""
    routes = gateway_routes(model)
    problems: list[Unresolved] = []
    done: set[str] = set()

    def visit(call: str, chain: tuple[str, ...]) -> None:
        if call in done:
            return
        done.add(call)
        route = routes[call]
        for parameter in route.path_parameters:
            source = _source(model, routes, call, route, parameter)
            if isinstance(source, str):
                problems.append(Unresolved(call, route, parameter.name, source))
            elif source.call is not None and source.call in (*chain, call):
                reason = f"its source {source.call} needs {call} first, a cycle"
                problems.append(Unresolved(call, route, parameter.name, reason))
            elif source.call is not None:
                visit(source.call, (*chain, call))

    for call in driven_calls(model):
        visit(call, ())
    return problems


def _source(model: Model, routes: dict[str, Route], call: str, route: Route, parameter: Parameter) -> Source | str:
    """The parameter's source, or why it has none."""
    declared = parameter.source
    if declared == CLIENT:
        return Source(None, None, True)
    if isinstance(declared, tuple):
        service, route_id, field = declared
        target = next(((c, r) for c, r in routes.items() if r.service == service and r.id == route_id), None)
        if target is None:
            return f"its source {service}.{route_id} is not a route the gateway serves"
        if field not in _response_properties(model, target[1]):
            return f"its source {target[0]} has no property '{field}' in its success response"
        return Source(target[0], field, True)
    made = creator(routes, route.service)
    if made is not None and made != call:
        schema = _response(model, routes[made])
        if parameter.name in schema.get("properties", {}) and parameter.name in schema.get("required", []):
            return Source(made, parameter.name, False)
    return (
        f"{route.service} has no creating POST through the gateway whose success response requires "
        f"'{parameter.name}', and the parameter declares no source"
    )


def _response(model: Model, route: Route) -> dict[str, Any]:
    """The route's success response schema, '$ref' followed ({} when it has none)."""
    named = model.named_schemas()
    schema = resolve({"$ref": route.success.schema}, named) if route.success.schema else {}
    return schema if isinstance(schema, dict) else {}


def _response_properties(model: Model, route: Route) -> set[str]:
    return set(_response(model, route).get("properties", {}))
