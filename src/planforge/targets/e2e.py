"""The e2e target: the manifest's flows and test scenarios as pytest suites run against the real stack.

``tests/e2e/`` holds a conftest that brings the feature up once per session with ``planforge.stack.Stack``
(fresh vhost, databases and Redis prefix, the services reaching RabbitMQ through a TCP proxy) and an event tap
on every exchange; one module per flow with steps, asserting each step through the gateway; ``test_scenarios.py``
with the scenarios of ``testing.scenarios`` that apply; ``feature.json`` with the routes, schemas and limits the
tests read. The shared logic is ``planforge_testkit.e2e``; the modules are lists of steps.
"""

from __future__ import annotations

from typing import Any

from planforge.escape import json_document
from planforge.model import Model, Route
from planforge.pathsources import Source, path_sources
from planforge.schemawalk import inline
from planforge.targets import Output
from planforge.templating import render_template
from planforge.testplan import Auth, AuthRoute, Scenario, actions, auth, client_call, gateway_routes, plan_scenarios
from planforge.units import seconds

__all__ = ["E2E_DIR", "feature_data", "render", "scenarios"]

E2E_DIR = "tests/e2e"
_CLIENTS = 8
_DURATION = 5.0


def render(model: Model) -> Output:
    """tests/e2e/: conftest.py, feature.json, test_<flow>.py for each flow with steps, test_scenarios.py."""
    if model.gateway is None:
        return Output()
    owned = {
        f"{E2E_DIR}/conftest.py": render_template("e2e/conftest.py.j2", model=model),
        f"{E2E_DIR}/feature.json": json_document(feature_data(model)) + "\n",
    }
    for flow in model.flows:
        if flow.steps:
            starts = any(client_call(model, step) for step in flow.steps)
            checks = actions(model, flow.steps)
            owned[f"{E2E_DIR}/test_{flow.slug}.py"] = render_template(
                "e2e/test_flow.py.j2",
                flow=flow,
                actions=checks,
                starts=starts,
                checked=any(a.method for a in checks),  # else the journey is only opened, never used
            )
    found = scenarios(model)
    if found:
        kinds = {s.kind for s in found}
        owned[f"{E2E_DIR}/test_scenarios.py"] = render_template(
            "e2e/test_scenarios.py.j2",
            model=model,
            scenarios=found,
            kinds=kinds,
            imports=_scenario_imports(kinds),
            clients=_CLIENTS,
            duration=_DURATION,
        )
    return Output(owned=owned)


def scenarios(model: Model) -> tuple[Scenario, ...]:
    """The declared scenarios that are generated (the others get PF511 from validation)."""
    return plan_scenarios(model)[0]


def _scenario_imports(kinds: set[str]) -> list[str]:
    """The names test_scenarios.py imports from planforge_testkit.e2e, sorted as isort sorts them."""
    names = {"E2E"}
    if "data-consistency" in kinds:
        names.add("concurrent_updates")
    if "performance" in kinds:
        names.add("load_test")
    if "network-partition" in kinds:
        names.add("TcpProxy")
    return sorted(names, key=lambda name: (not name.isupper(), not name[0].isupper(), name))


# --- feature.json ------------------------------------------------------------------------------------------------


def feature_data(model: Model) -> dict[str, Any]:
    """What the generated tests read at run time: routes, event schemas, exchanges, consumers, JWT, limits."""
    gateway = model.gateway
    assert gateway is not None
    schemas = {name: value.value for name, value in model.schemas}
    policies = model.policies.value
    p95 = policies["observability"]["alerts"].get("p95_latency_above")
    sources = path_sources(model)
    return {
        "name": model.name,
        "slug": model.slug,
        "correlation_header": policies["observability"]["tracing"]["correlation_header"],
        "jwt": {
            "algorithm": gateway.jwt_algorithms[0] if gateway.jwt_algorithms else None,
            "issuer": gateway.jwt_issuer,
            "audience": gateway.jwt_audience,
        },
        "rate_limit": {
            "requests": gateway.rate_requests,
            "per": gateway.rate_per,
            "burst": gateway.burst,
        },
        "p95_latency_above": seconds(p95) if p95 else None,
        "auth": _auth_data(auth(model)),
        "routes": {call: _route_data(route, schemas, sources[call]) for call, route in gateway_routes(model).items()},
        "events": {
            e.name: {"exchange": e.exchange, "routing_key": e.routing_key, "schema": e.data.value} for e in model.events
        },
        "exchanges": [
            {
                "name": x.name,
                "type": x.type,
                "routing_keys": sorted({e.routing_key for e in model.events if e.exchange == x.name}),
            }
            for x in model.exchanges
        ],
        "consumers": {e.name: list(e.consumers) for e in model.events if e.consumers},
        "callees": _callees(model),
    }


def _callees(model: Model) -> list[list[str]]:
    """[service, method, route path] of every route another service calls (the journeys count its requests)."""
    routes = {(s.name, r.id): r for s in model.services for r in s.routes}
    found = {
        (c.target, route.method, route.path)
        for s in model.services
        for c in s.calls
        if (route := routes.get((c.target, c.route))) is not None
    }
    return [list(callee) for callee in sorted(found)]


def _auth_data(found: Auth | None) -> dict[str, Any] | None:
    """testing.auth as the journeys read it: the gateway calls and the response fields."""
    if found is None:
        return None

    def route(ref: AuthRoute | None) -> dict[str, Any] | None:
        return {"call": ref.call, "field": ref.field} if ref is not None else None

    return {"token": route(found.token), "subject": route(found.subject)}


def _route_data(route: Route, schemas: dict[str, Any], sources: dict[str, Source | None]) -> dict[str, Any]:
    return {
        "service": route.service,
        "method": route.method,
        "path": route.gateway_path,
        "public": route.public,
        "success": route.success.status,
        "request": inline({"$ref": route.request}, schemas) if route.request else None,
        "response": inline({"$ref": route.success.schema}, schemas) if route.success.schema else None,
        "parameters": {
            p.name: {"in": p.location, "required": p.required, "schema": inline(p.schema.value, schemas)}
            for p in route.parameters
        },
        "sources": {name: _source_data(source) for name, source in sources.items()},
        "concurrency": route.concurrency,
    }


def _source_data(source: Source | None) -> dict[str, Any] | None:
    """A path parameter's source as the journey reads it (None: none, the tests do not call the route)."""
    if source is None:
        return None
    return {"call": source.call, "field": source.field}
