"""What the end-to-end tests of a feature drive, derived once from the model and read by the e2e target and the rules.

Every scenario of ``testing.scenarios`` either becomes a `Scenario` exactly as declared (its flow, its service)
or a `Refusal` that says why it cannot apply; nothing is dropped or re-targeted silently. ``testing.auth`` becomes
an `Auth`: the gateway calls that issue a token and create a subject, and the response fields to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planforge.model import Flow, Model, Route, Step
from planforge.paths import parse_call, template_matches

__all__ = [
    "Action",
    "Auth",
    "AuthRoute",
    "Refusal",
    "Scenario",
    "actions",
    "auth",
    "client_call",
    "creator",
    "gateway_routes",
    "plan_scenarios",
    "step_actions",
]

_UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Action:
    """One line of a generated test: a comment for the step, and the journey call that checks it (or none)."""

    comment: str
    method: str | None = None
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario of testing.scenarios as declared, with everything its test needs computed."""

    index: int
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


@dataclass(frozen=True, slots=True)
class Refusal:
    """A declared scenario that cannot be generated: where it is and why."""

    index: int
    kind: str
    name: str
    reason: str
    hint: str


@dataclass(frozen=True, slots=True)
class AuthRoute:
    """A route of testing.auth as the client calls it through the gateway, and the response field to read."""

    service: str
    route: str
    field: str
    call: str | None
    resolved: Route | None


@dataclass(frozen=True, slots=True)
class Auth:
    """testing.auth: the token-issuing route, and the route that creates a subject (None: tests sign tokens)."""

    token: AuthRoute
    subject: AuthRoute | None


# --- gateway calls and steps ---------------------------------------------------------------------------------------


def gateway_routes(model: Model) -> dict[str, Route]:
    """Routes the gateway exposes, by call ('METHOD /gateway/path')."""
    return {f"{r.method} {r.gateway_path}": r for s in model.services for r in s.routes if r.gateway_path}


def client_call(model: Model, step: Step) -> str | None:
    """The gateway call of a client step ('POST /api/v1/users/register'), when the gateway serves it."""
    if step.by != "client" or step.call is None:
        return None
    return step.call if step.call in gateway_routes(model) else None


def _comment(step: Step) -> str:
    return " ".join(f"{step.number}. {step.by}: {step.does}".split())


def step_actions(model: Model, step: Step) -> list[Action]:
    """What checks one step: a client call, an event on the tap, a consumer's metrics; or, when nothing of it can
    be observed from outside, a comment that says it is not checked and why."""
    checks = []
    call = client_call(model, step)
    if call:
        checks.append(Action("", "call", (call,)))
    if step.on and step.by in model.event(step.on).consumers:
        checks.append(Action("", "consumed", (step.by, step.on)))
    if step.publishes:
        checks.append(Action("", "published", (step.publishes,)))
    served = _callee(model, step)
    if served is not None:
        checks.append(Action("", "served", served))
    if checks:
        return [Action(_comment(step)), *checks]
    return [Action(_comment(step)), Action(f"   not checked: {_unchecked(step)}")]


def _callee(model: Model, step: Step) -> tuple[str, str, str] | None:
    """(service, method, route path) of the route a service's step calls, among the calls it declares."""
    if step.by == "client" or step.call is None:
        return None
    method, path = parse_call(step.call)
    caller = next((s for s in model.services if s.name == step.by), None)
    for call in caller.calls if caller else ():
        target = next((s for s in model.services if s.name == call.target), None)
        route = next((r for r in target.routes if r.id == call.route), None) if target else None
        if route is not None and route.method == method and template_matches(route.path, path):
            return call.target, route.method, route.path
    return None


def _unchecked(step: Step) -> str:
    """Why a step has no check: what of it an end-to-end test could observe, and that it is not there."""
    if step.by == "client" and step.call:
        return f"the gateway serves no route {step.call}"
    if step.call:
        return f"{step.call} is not a route of a service that {step.by} declares in calls"
    if step.on:
        return f"{step.by} does not consume {step.on}"
    if step.by == "gateway":
        return "the gateway's own work shows only in the calls through it"
    return "the step names no call, consumed event or published event to observe"


def actions(model: Model, steps: tuple[Step, ...]) -> tuple[Action, ...]:
    """The actions of steps, in order."""
    return tuple(action for step in steps for action in step_actions(model, step))


def creator(routes: dict[str, Route], service: str) -> str | None:
    """The POST of service that answers 201 Created (or 202 Accepted): what creates the resources it reads."""
    posts = [(r.success.status, c) for c, r in routes.items() if r.service == service and r.method == "POST"]
    return next((c for status, c in sorted(posts, key=lambda p: p[0]) if status in (201, 202)), None)


# --- testing.auth --------------------------------------------------------------------------------------------------


def auth(model: Model) -> Auth | None:
    """testing.auth resolved against the routes (a route the gateway does not serve has call None)."""
    raw = model.policies.value["testing"].get("auth")
    if not raw:
        return None
    subject = raw.get("subject")
    return Auth(_auth_route(model, raw["token"]), _auth_route(model, subject) if subject else None)


def _auth_route(model: Model, raw: dict[str, str]) -> AuthRoute:
    service = next((s for s in model.services if s.name == raw["service"]), None)
    route = next((r for r in service.routes if r.id == raw["route"]), None) if service else None
    call = f"{route.method} {route.gateway_path}" if route and route.gateway_path else None
    return AuthRoute(raw["service"], raw["route"], raw["field"], call, route)


# --- scenarios -----------------------------------------------------------------------------------------------------


_Built = Scenario | Refusal


def plan_scenarios(model: Model) -> tuple[tuple[Scenario, ...], tuple[Refusal, ...]]:
    """Each declared scenario as it will be generated, or why it cannot be; in manifest order."""
    found: list[Scenario] = []
    refused: list[Refusal] = []
    for index, raw in enumerate(model.policies.value["testing"]["scenarios"]):
        flow = next((f for f in model.flows if f.name == raw["flow"]), None)
        named = {**raw, "index": index, "function": _function(raw["kind"], [s.function for s in found])}
        if model.gateway is None:
            built: _Built = _refuse(named, "the feature has no gateway to drive it through", "declare a gateway")
        else:
            built = _BUILDERS[raw["kind"]](model, named, flow)
        (found if isinstance(built, Scenario) else refused).append(built)  # type: ignore[arg-type]
    return tuple(found), tuple(refused)


def _refuse(raw: dict[str, Any], reason: str, hint: str) -> Refusal:
    return Refusal(raw["index"], raw["kind"], raw["name"], reason, hint)


def _scenario(raw: dict[str, Any], flow: Flow | None, **facts: Any) -> Scenario:
    return Scenario(raw["index"], raw["kind"], raw["name"], raw["function"], flow, **facts)


def _function(kind: str, taken: list[str]) -> str:
    """The test's name: the kind ('network_partition'), numbered when the kind comes again."""
    base = kind.replace("-", "_")
    return next(name for n in range(1, len(taken) + 2) if (name := base if n == 1 else f"{base}_{n}") not in taken)


def _unstartable(model: Model, raw: dict[str, Any], flow: Flow | None) -> Refusal | None:
    """Why the scenario's flow cannot be driven through the gateway (None when it can)."""
    if flow is None:
        return _refuse(raw, f"a {raw['kind']} scenario drives a flow, and none is named", "add flow: <flow name>")
    if not any(client_call(model, step) for step in flow.steps):
        return _refuse(
            raw,
            f"no client step of flow '{flow.name}' calls a route the gateway serves, so the flow cannot be driven",
            "add a client step with call: METHOD /gateway/path, or name another flow",
        )
    return None


def _happy_path(model: Model, raw: dict[str, Any], flow: Flow | None) -> _Built:
    """The named flow, then every other flow a client starts, in manifest order, as one journey; then read-backs."""
    refusal = _unstartable(model, raw, flow)
    if refusal or flow is None:
        return refusal or _refuse(raw, "no flow", "")
    others = [f for f in model.flows if f is not flow and not _unstartable(model, raw, f)]
    steps = tuple(step for f in (flow, *others) for step in f.steps)
    return _scenario(raw, flow, before=actions(model, steps) + _read_backs(model, steps))


def _read_backs(model: Model, steps: tuple[Step, ...]) -> tuple[Action, ...]:
    """For each service that consumed events in steps: read its resource back, its optional timestamps set."""
    routes = gateway_routes(model)
    consumers = {step.by for step in steps if step.on}
    found = []
    for call, route in routes.items():
        if route.service in consumers and route.method == "GET" and "{" in call and creator(routes, route.service):
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


def _service_failure(model: Model, raw: dict[str, Any], flow: Flow | None) -> _Built:
    """While the service is down: the flow's calls up to the first that needs it (which the gateway answers
    502-504), and others' direct publications; once it is back: the rest of the flow and its consumers' work."""
    service = raw["service"]
    if service is None:
        return _refuse(raw, "a service-failure scenario stops a service, and none is named", "add service: <name>")
    refusal = _unstartable(model, raw, flow)
    if refusal or flow is None:
        return refusal or _refuse(raw, "no flow", "")
    cut = next((i for i in range(len(flow.steps)) if service in _needed_by_call(model, flow.steps, i)), len(flow.steps))
    early, late = flow.steps[:cut], flow.steps[cut:]
    down = actions(model, tuple(s for s in early if not s.on and s.by != service))
    if late:
        call = client_call(model, late[0])
        assert call is not None
        down += (Action(f"{service} is down: the gateway answers {call} with a problem"),)
        down += (Action("", _UNAVAILABLE, (call,)),)
    back = actions(model, tuple(s for s in early if s.on or s.by == service)) + actions(model, late)
    return _scenario(raw, flow, service=service, before=down, after=back)


def _needed_by_call(model: Model, steps: tuple[Step, ...], index: int) -> set[str]:
    """The services the client call of steps[index] needs (none if it is no client call): the service the gateway
    routes it to, and those that services call in the steps that follow, until the client calls again."""
    call = client_call(model, steps[index])
    if call is None:
        return set()
    needed = {gateway_routes(model)[call].service}
    for step in steps[index + 1 :]:
        if client_call(model, step):
            break
        if step.by != "client" and step.call:
            needed |= _served_by(model, step.call)
    return needed


def _served_by(model: Model, call: str) -> set[str]:
    """The services with a route that a service-to-service call 'METHOD /path' reaches."""
    method, path = parse_call(call)
    return {s.name for s in model.services for r in s.routes if r.method == method and template_matches(r.path, path)}


def _network_partition(model: Model, raw: dict[str, Any], flow: Flow | None) -> _Built:
    """Client calls with the broker cut off; every event and consumer once the link is back."""
    refusal = _unstartable(model, raw, flow)
    if refusal or flow is None:
        return refusal or _refuse(raw, "no flow", "")
    first = next(i for i, s in enumerate(flow.steps) if client_call(model, s))
    calls, rest = flow.steps[: first + 1], flow.steps[first + 1 :]
    return _scenario(raw, flow, before=actions(model, calls), after=actions(model, rest))


def _data_consistency(model: Model, raw: dict[str, Any], flow: Flow | None) -> _Built:
    """Two concurrent conditional updates of a concurrency: etag route of the flow (called in its steps, or of a
    service that publishes its events); any such route when no flow is named."""
    routes = gateway_routes(model)
    # A conditional update with a body (the GET that gives the ETag has concurrency: etag too, and is no update).
    etag = {c: r for c, r in routes.items() if r.etag == "update" and r.request is not None}
    if flow is not None:
        called = {client_call(model, s) for s in flow.steps}
        publishers = {p for e in flow.events for p in model.event(e).publishers}
        etag = {c: r for c, r in etag.items() if c in called or r.service in publishers}
    where = f"flow '{flow.name}' (called in its steps or served by a publisher of its events)" if flow else "it"
    if not etag:
        return _refuse(
            raw,
            f"no conditional update (concurrency: etag, with a request body) served by the gateway belongs to {where}",
            "give the update route concurrency: etag, or name the flow that uses one",
        )
    for call, route in etag.items():
        read = next((c for c, r in routes.items() if r.method == "GET" and r.path == route.path), None)
        made = creator(routes, route.service)
        if read and made:
            # The winning update announces itself with the flow's events its service publishes.
            events = [e for e in (flow.events if flow else ()) if route.service in model.event(e).publishers]
            after = tuple(Action("", "published", (event,)) for event in events)
            return _scenario(raw, flow, after=after, creator=made, read=read, update=call)
    first = next(iter(etag))
    return _refuse(
        raw,
        f"{first} needs a GET route on the same path (to read the ETag) and a POST of "
        f"{etag[first].service} answering 201 or 202 (to create what it updates) through the gateway",
        "add the read and create routes, or name a flow with another etag route",
    )


def _performance(model: Model, raw: dict[str, Any], flow: Flow | None) -> _Built:
    """The first client GET call of the named flow, under load (the flow's earlier calls first)."""
    refusal = _unstartable(model, raw, flow)
    if refusal or flow is None:
        return refusal or _refuse(raw, "no flow", "")
    routes = gateway_routes(model)
    reads = [c for s in flow.steps if (c := client_call(model, s)) and routes[c].method == "GET"]
    if not reads:
        return _refuse(
            raw,
            f"flow '{flow.name}' has no client GET call through the gateway; the load test repeats a read",
            "name a flow whose client reads something, or add such a step",
        )
    index = next(i for i, s in enumerate(flow.steps) if client_call(model, s) == reads[0])
    setup = tuple(Action("", "call", (c,)) for s in flow.steps[:index] if (c := client_call(model, s)))
    return _scenario(raw, flow, before=setup, read=reads[0])


_BUILDERS: dict[str, Callable[[Model, dict[str, Any], Flow | None], _Built]] = {
    "happy-path": _happy_path,
    "service-failure": _service_failure,
    "network-partition": _network_partition,
    "data-consistency": _data_consistency,
    "performance": _performance,
}
