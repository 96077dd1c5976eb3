"""The e2e target: the manifest's flows and test scenarios as pytest suites run against the real stack.

``tests/e2e/`` holds a conftest that brings the feature up once per session with ``planforge.stack.Stack``
(fresh vhost, databases and Redis prefix, the services reaching RabbitMQ through a TCP proxy) and an event tap
on every exchange; one module per flow with steps, asserting each step through the gateway; ``test_scenarios.py``
with the scenarios of ``testing.scenarios`` that apply; ``feature.json`` with the routes, schemas and limits the
tests read. The shared logic is ``planforge.runtime.e2e``; the modules are lists of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planforge.escape import json_document
from planforge.model import Flow, Model, Route, Step
from planforge.targets import Output
from planforge.templating import render_template
from planforge.units import seconds

__all__ = ["E2E_DIR", "Action", "Scenario", "actions", "feature_data", "render", "scenarios", "step_actions"]

E2E_DIR = "tests/e2e"
_CLIENTS = 8
_DURATION = 5.0


@dataclass(frozen=True, slots=True)
class Action:
    """One line of a generated test: a comment for the step, and the journey call that checks it (or none)."""

    comment: str
    method: str | None = None
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario of testing.scenarios that applies, with everything its test needs computed."""

    kind: str
    name: str
    function: str
    flow: Flow | None
    service: str | None = None
    before: tuple[Action, ...] = ()
    after: tuple[Action, ...] = ()
    creator: str | None = None
    read: str | None = None
    update: str | None = None


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
            starts = any(_client_call(model, step) for step in flow.steps)
            owned[f"{E2E_DIR}/test_{flow.slug}.py"] = render_template(
                "e2e/test_flow.py.j2", flow=flow, actions=actions(model, flow.steps), starts=starts
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


def _scenario_imports(kinds: set[str]) -> list[str]:
    """The names test_scenarios.py imports from planforge.runtime.e2e, sorted as isort sorts them."""
    names = {"E2E"}
    if "data-consistency" in kinds:
        names.add("concurrent_updates")
    if "performance" in kinds:
        names.add("load_test")
    if "network-partition" in kinds:
        names.add("TcpProxy")
    return sorted(names, key=lambda name: (not name.isupper(), not name[0].isupper(), name))


# --- steps -------------------------------------------------------------------------------------------------------


def _client_call(model: Model, step: Step) -> str | None:
    """The gateway call of a client step ('POST /api/v1/users/register'), when the gateway serves it."""
    if step.by != "client" or step.call is None:
        return None
    return step.call if step.call in _gateway_routes(model) else None


def _comment(step: Step) -> str:
    return " ".join(f"{step.number}. {step.by}: {step.does}".split())


def step_actions(model: Model, step: Step) -> list[Action]:
    """What checks one step: a client call, an event on the tap, a consumer's metrics (or only a comment)."""
    found = [Action(_comment(step))]
    call = _client_call(model, step)
    if call:
        found.append(Action("", "call", (call,)))
    if step.on and step.by in model.event(step.on).consumers:
        found.append(Action("", "consumed", (step.by, step.on)))
    if step.publishes:
        found.append(Action("", "published", (step.publishes,)))
    return found


def actions(model: Model, steps: tuple[Step, ...]) -> tuple[Action, ...]:
    """The actions of steps, in order."""
    return tuple(action for step in steps for action in step_actions(model, step))


# --- scenarios ---------------------------------------------------------------------------------------------------


def scenarios(model: Model) -> tuple[Scenario, ...]:
    """The manifest's scenarios that can be tested through this feature's gateway, in manifest order."""
    found: list[Scenario] = []
    for raw in model.policies.value["testing"]["scenarios"]:
        flow = next((f for f in model.flows if f.name == raw["flow"]), None)
        named = {**raw, "function": _function(raw["kind"], [s.function for s in found])}
        scenario = _BUILDERS[raw["kind"]](model, named, flow)
        if scenario is not None:
            found.append(scenario)
    return tuple(found)


def _function(kind: str, taken: list[str]) -> str:
    """The test's name: the kind ('network_partition'), numbered when the kind comes again."""
    base = kind.replace("-", "_")
    return next(name for n in range(1, len(taken) + 2) if (name := base if n == 1 else f"{base}_{n}") not in taken)


def _starting(model: Model, flow: Flow | None) -> bool:
    return flow is not None and any(_client_call(model, step) for step in flow.steps)


def _happy_path(model: Model, raw: dict[str, Any], flow: Flow | None) -> Scenario | None:
    """The named flow, then every other flow a client starts, in manifest order, as one journey; then read-backs."""
    if flow is None or not _starting(model, flow):
        return None
    others = [f for f in model.flows if f is not flow and _starting(model, f)]
    steps = tuple(step for f in (flow, *others) for step in f.steps)
    return Scenario(
        "happy-path", raw["name"], raw["function"], flow, before=actions(model, steps) + _read_backs(model, steps)
    )


def _read_backs(model: Model, steps: tuple[Step, ...]) -> tuple[Action, ...]:
    """For each service that consumed events in steps: read its resource back, its optional timestamps set."""
    routes = _gateway_routes(model)
    consumers = {step.by for step in steps if step.on}
    found = []
    for call, route in routes.items():
        if route.service in consumers and route.method == "GET" and "{" in call and _creator(routes, route.service):
            stamps = _optional_timestamps(model, route)
            if stamps:
                found.append(Action(f"read back: what {route.service}'s consumers wrote is there"))
                found.append(Action("", "read_back", (call, *stamps)))
    return tuple(found)


def _optional_timestamps(model: Model, route: Route) -> tuple[str, ...]:
    """Optional date-time properties of the route's response: set by later events, not by the creating call."""
    schema = dict(model.schemas).get(route.success.schema or "")
    if schema is None:
        return ()
    value = schema.value
    required = set(value.get("required", []))
    properties = value.get("properties", {})
    return tuple(n for n, p in properties.items() if n not in required and p.get("format") == "date-time")


def _service_failure(model: Model, raw: dict[str, Any], flow: Flow | None) -> Scenario | None:
    """Client calls and direct publications while the service is down; its consumers' work once it is back."""
    service = raw["service"]
    if flow is None or not _starting(model, flow) or service not in {s.name for s in model.services}:
        return None
    if any(_gateway_routes(model)[c].service == service for s in flow.steps if (c := _client_call(model, s))):
        return None  # the client calls the stopped service itself: nothing can succeed
    down = [s for s in flow.steps if not s.on and s.by != service]
    return Scenario(
        "service-failure",
        raw["name"],
        raw["function"],
        flow,
        service=service,
        before=actions(model, tuple(down)),
        after=actions(model, tuple(s for s in flow.steps if s.on or s.by == service)),
    )


def _network_partition(model: Model, raw: dict[str, Any], flow: Flow | None) -> Scenario | None:
    """Client calls with the broker cut off; every event and consumer once the link is back."""
    if flow is None or not _starting(model, flow):
        return None
    first = next(i for i, s in enumerate(flow.steps) if _client_call(model, s))
    calls, rest = flow.steps[: first + 1], flow.steps[first + 1 :]
    return Scenario(
        "network-partition",
        raw["name"],
        raw["function"],
        flow,
        before=actions(model, calls),
        after=actions(model, rest),
    )


def _data_consistency(model: Model, raw: dict[str, Any], flow: Flow | None) -> Scenario | None:
    """Two concurrent conditional updates of a route with concurrency: etag."""
    routes = _gateway_routes(model)
    for call, route in routes.items():
        if route.concurrency != "etag":
            continue
        read = next((c for c, r in routes.items() if r.method == "GET" and r.path == route.path), None)
        creator = _creator(routes, route.service)
        if read and creator:
            # The winning update announces itself with the flow's events its service publishes.
            events = [e for e in (flow.events if flow else ()) if route.service in model.event(e).publishers]
            after = tuple(Action("", "published", (event,)) for event in events)
            return Scenario(
                "data-consistency",
                raw["name"],
                raw["function"],
                flow,
                after=after,
                creator=creator,
                read=read,
                update=call,
            )
    return None


def _performance(model: Model, raw: dict[str, Any], flow: Flow | None) -> Scenario | None:
    """A GET route of the flow, else one whose service creates what it reads, else any GET route."""
    routes = _gateway_routes(model)
    in_flow = [c for s in (flow.steps if flow else ()) if (c := _client_call(model, s)) and routes[c].method == "GET"]
    gets = [c for c, r in routes.items() if r.method == "GET"]
    created = [c for c in gets if "{" in c and _creator(routes, routes[c].service)]
    read = next(iter(in_flow or created or gets), None)
    if read is None:
        return None
    creator = _creator(routes, routes[read].service) if "{" in read else None
    return Scenario("performance", raw["name"], raw["function"], flow, creator=creator, read=read)


def _creator(routes: dict[str, Route], service: str) -> str | None:
    """The public or protected POST of service that answers 201: what creates the resources it reads."""
    return next(
        (c for c, r in routes.items() if r.service == service and r.method == "POST" and r.success.status == 201), None
    )


_BUILDERS = {
    "happy-path": _happy_path,
    "service-failure": _service_failure,
    "network-partition": _network_partition,
    "data-consistency": _data_consistency,
    "performance": _performance,
}


# --- feature.json ------------------------------------------------------------------------------------------------


def _gateway_routes(model: Model) -> dict[str, Route]:
    """Routes the gateway exposes, by call ('METHOD /gateway/path')."""
    return {f"{r.method} {r.gateway_path}": r for s in model.services for r in s.routes if r.gateway_path}


def feature_data(model: Model) -> dict[str, Any]:
    """What the generated tests read at run time: routes, event schemas, exchanges, consumers, JWT, limits."""
    gateway = model.gateway
    assert gateway is not None
    schemas = {name: value.value for name, value in model.schemas}
    policies = model.policies.value
    p95 = policies["observability"]["alerts"].get("p95_latency_above")
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
        "routes": {call: _route_data(route, schemas) for call, route in _gateway_routes(model).items()},
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
    }


def _route_data(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "service": route.service,
        "method": route.method,
        "path": route.gateway_path,
        "public": route.public,
        "success": route.success.status,
        "request": _inline({"$ref": route.request}, schemas) if route.request else None,
        "response": _inline({"$ref": route.success.schema}, schemas) if route.success.schema else None,
        "parameters": {
            p.name: {"in": p.location, "required": p.required, "schema": p.schema.value} for p in route.parameters
        },
        "concurrency": route.concurrency,
    }


def _inline(schema: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    """The schema with each {'$ref': Name} of the manifest replaced by that schema (cycles cut at depth 8)."""
    if isinstance(schema, list):
        return [_inline(item, schemas, depth) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return _inline(schemas[name], schemas, depth + 1) if name in schemas and depth < 8 else {}
    return {key: _inline(value, schemas, depth) for key, value in schema.items()}
