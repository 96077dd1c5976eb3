"""Hypothesis strategies for valid planforge manifests: one strategy per manifest section, composed by `manifests()`.

Valid by construction: names are consistent, routes unique, every queue has one consuming service that consumes
exactly the events its bindings deliver, every published event reaches a queue. A manifest from here that
`planforge validate` refuses (or warns about) is a bug of this module or of the validator.

KNOWN_GAPS (gaps.py) switches off, one entry per finding that is not fixed yet, the part of the language that
finding breaks. Delete an entry when its fix lands: the strategy then generates that part again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from .gaps import KNOWN_GAPS, gap
from .schemas import Shape, enum_schemas, object_schemas, parameter_schemas

__all__ = ["KNOWN_GAPS", "Feature", "manifests"]

NOUNS = ("ledger", "parcel", "quota", "rover", "tally", "beacon", "harbor", "meadow", "orchid", "summit")
VERBS = ("created", "updated", "archived", "moved", "flagged")
WORDS = ("alpha", "bravo", "delta", "gamma", "kappa", "sigma")
HEADERS = ("X-Request-ID", "X-Trace-Token", "Request-Ref", "X-Correlation-ID")


@dataclass
class Feature:
    """What the manifest is being built from, and the facts the tests check against (the strategy's oracle)."""

    manifest: dict[str, Any]
    # event -> the queues RabbitMQ must deliver it to, from the strategy's own bindings
    deliveries: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Service:
    name: str
    noun: str
    routes: list[dict[str, Any]]
    uses: list[str] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)
    consumes: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)

    @property
    def param(self) -> str:
        return f"{self.noun}Id"

    def as_manifest(self, layer: str) -> dict[str, Any]:
        body: dict[str, Any] = {"title": f"{self.noun.title()} Service", "layer": layer, "routes": self.routes}
        body["summary"] = f"Keeps {self.noun}s."
        for key in ("uses", "publishes", "consumes", "calls"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        return body


# --- schemas -------------------------------------------------------------------------------------------------------


@st.composite
def named_schemas(draw: st.DrawFn, nouns: list[str]) -> dict[str, Shape]:
    """`Colour` (an enum), `Detail` (an object others `$ref`), and per resource a record and its input."""
    shapes: dict[str, Shape] = {"Colour": draw(enum_schemas())}
    shapes["Detail"] = draw(object_schemas({"Colour": shapes["Colour"]}, depth=0))
    for noun in nouns:
        base = noun.title()
        shapes[f"{base}Input"] = draw(object_schemas(dict(shapes), depth=1))
        record = draw(object_schemas(dict(shapes), depth=1))
        record.schema["properties"]["id"] = {"type": "string", "format": "uuid"}
        record.schema.setdefault("required", []).append("id")
        if draw(st.booleans()):  # then the path parameter's source is derived from the creating POST's answer
            record.schema["properties"][f"{noun}Id"] = {"type": "string", "format": "uuid"}
            record.schema["required"].append(f"{noun}Id")
        record.schema.pop("maxProperties", None)
        shapes[base] = record
        shapes[f"{base}Page"] = Shape(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["items"],
                "properties": {"items": {"type": "array", "items": {"$ref": base}}, "total": {"type": "integer"}},
            },
            {"items": []},
        )
    return shapes


# --- services and routes ------------------------------------------------------------------------------------------


@st.composite
def _parameters(draw: st.DrawFn, refs: dict[str, Shape], path_param: str | None) -> dict[str, Any]:
    strategy = parameter_schemas(refs, patterns=not gap("parameter_pattern"), ref_params=not gap("parameter_ref"))
    parameters: dict[str, Any] = {}
    if path_param and draw(st.booleans()):  # undeclared path parameters default to strings
        parameters[path_param] = {"in": "path", "schema": draw(strategy).schema}
    for name in draw(st.lists(st.sampled_from(("limit", "colour", "search", "since", "tag")), max_size=3, unique=True)):
        query: dict[str, Any] = {"in": "query", "schema": draw(strategy).schema}
        if draw(st.booleans()):
            query["required"] = draw(st.booleans())
        if draw(st.booleans()):
            query["description"] = f"Filter by {name}."
        parameters[name] = query
    return parameters


@st.composite
def routes(draw: st.DrawFn, noun: str, refs: dict[str, Shape]) -> list[dict[str, Any]]:
    """A non-empty set of the resource's routes: list, read, create, replace, update, delete."""
    base, item = f"/{noun}s", f"/{noun}s/{{{noun}Id}}"
    model = noun.title()
    kinds = draw(
        st.lists(
            st.sampled_from(("list", "get", "create", "put", "patch", "delete")), min_size=1, max_size=6, unique=True
        )
    )
    table = {
        "list": ("GET", base, None, {"200": f"{model}Page", "401": "Problem"}),
        "get": ("GET", item, None, {"200": model, "401": "Problem", "404": "Problem"}),
        "create": ("POST", base, f"{model}Input", {"201": model, "401": "Problem", "422": "Problem"}),
        "put": ("PUT", item, f"{model}Input", {"200": model, "404": "Problem", "412": "Problem"}),
        "patch": ("PATCH", item, f"{model}Input", {"200": model, "404": "Problem"}),
        "delete": ("DELETE", item, None, {"204": None, "404": "Problem"}),
    }
    found = []
    for kind in sorted(kinds):
        method, path, request, responses = table[kind]
        route: dict[str, Any] = {"id": f"{kind}_{noun}", "method": method, "path": path, "responses": responses}
        route["summary"] = f"{kind.title()} {noun}s."
        if draw(st.booleans()):
            route["public"] = draw(st.booleans())
        if request:
            route["request"] = request
        parameters = draw(_parameters(refs, f"{noun}Id" if path == item else None))
        if path == item:
            _path_source(draw, parameters, noun, "create" in kinds, f"{noun}Id" in refs[model].schema["required"])
        if parameters:
            route["parameters"] = parameters
        # A conditional update is versioned by the GET of the same path (PF720): only with that read route.
        versioned = kind == "get" or (kind in ("put", "patch") and "get" in kinds)
        if versioned and draw(st.booleans()):
            route["concurrency"] = "etag"
        found.append(route)
    return found


def _path_source(draw: st.DrawFn, parameters: dict[str, Any], noun: str, created: bool, answered: bool) -> None:
    """Where the e2e tests take the resource's id from: derived (the creating POST answers with a required
    '<noun>Id'), declared as a property of the creating POST's answer, or chosen by the client (PF512)."""
    name = f"{noun}Id"
    schema = parameters.get(name, {}).get("schema")
    takes_uuid = schema is None or schema == {"type": "string", "format": "uuid"}
    declared = {"service": f"{noun}-service", "route": f"create_{noun}", "field": "id"}
    if created and answered and takes_uuid and draw(st.booleans()):
        return
    parameters.setdefault(name, {"in": "path"})
    parameters[name]["source"] = declared if created and takes_uuid and draw(st.booleans()) else "client"


# --- events and the broker ----------------------------------------------------------------------------------------


@st.composite
def exchanges(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """One to three exchanges, each of any type."""
    names = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True))
    return {
        f"{n}-events": {"type": draw(st.sampled_from(("topic", "direct", "fanout"))), "durable": True} for n in names
    }


@st.composite
def events(draw: st.DrawFn, nouns: list[str], exchange_names: list[str], shapes: dict[str, Shape]) -> dict[str, Any]:
    """Events named noun.verb; data with the resource's id (so caches can be invalidated) and other fields."""
    names = draw(
        st.lists(st.tuples(st.sampled_from(nouns), st.sampled_from(VERBS)), min_size=1, max_size=5, unique=True)
    )
    found: dict[str, Any] = {}
    for noun, verb in names:
        data = draw(object_schemas({"Detail": shapes["Detail"], "Colour": shapes["Colour"]}, depth=1))
        data.schema["properties"][f"{noun}Id"] = {"type": "string", "format": "uuid"}
        data.schema.setdefault("required", []).append(f"{noun}Id")
        data.schema.pop("maxProperties", None)
        data.sample[f"{noun}Id"] = "6a0e2f4c-3b1d-4c8e-9f7a-1b2c3d4e5f60"
        event: dict[str, Any] = {"summary": f"A {noun} was {verb}.", "exchange": draw(st.sampled_from(exchange_names))}
        if draw(st.booleans()):
            event["routing_key"] = f"{draw(st.sampled_from(WORDS))}.{noun}.{verb}"
        event["data"] = data.schema
        if not gap("events_without_examples") and draw(st.booleans()):
            pass  # an event without examples
        else:
            event["examples"] = [data.sample]
        strings = [k for k, v in data.schema["properties"].items() if v.get("type") == "string"]
        if strings and draw(st.booleans()):
            event["pii"] = [draw(st.sampled_from(strings))]
        found[f"{noun}.{verb}"] = event
    return found


def _key(name: str, event: dict[str, Any]) -> str:
    return str(event.get("routing_key", name))


@st.composite
def binding_patterns(draw: st.DrawFn, exchange_type: str, key: str) -> str:
    """A pattern that delivers key: the key itself, or on a topic exchange a wildcard pattern."""
    if exchange_type == "direct":
        return key
    if exchange_type == "fanout":
        return draw(st.sampled_from(("#", key)))
    words = key.split(".")
    starred = ".".join("*" if i == draw(st.integers(0, len(words) - 1)) else w for i, w in enumerate(words))
    return draw(st.sampled_from((key, starred, f"{words[0]}.#", "#", "#." + words[-1])))


@st.composite
def broker(draw: st.DrawFn, exchange_table: dict[str, Any], event_table: dict[str, Any], consumers: list[str]) -> Any:
    """Queues (one per consuming service) with bindings; each published event reaches at least one queue.

    Returns the broker section and queue -> events delivered there, computed here from the bindings."""
    queues: dict[str, list[dict[str, str]]] = {f"{c}-queue": [] for c in consumers}
    names = sorted(event_table)
    for queue in queues:
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            _bind(draw, queues[queue], exchange_table, name, event_table[name])
    delivered = _delivered(queues, exchange_table, event_table)
    for name in names:  # an event nothing delivers gets a binding on some queue
        if not any(name in got for got in delivered.values()):
            _bind(draw, queues[draw(st.sampled_from(sorted(queues)))], exchange_table, name, event_table[name])
            delivered = _delivered(queues, exchange_table, event_table)
    section = {
        "exchanges": exchange_table,
        "queues": {q: {**draw(_queue_kind()), "bindings": b} for q, b in queues.items()},
    }
    return section, delivered


def _queue_kind() -> st.SearchStrategy[dict[str, Any]]:
    """Quorum (the default for durable queues) or classic, durable or not, with or without a length limit."""
    return st.one_of(
        st.just({}),
        st.just({"type": "quorum"}),
        st.sampled_from(({"type": "classic"}, {"type": "classic", "durable": False})),
        st.integers(1, 100000).map(lambda n: {"max_length": n}),
    )


def _bind(draw: st.DrawFn, bindings: list[dict[str, str]], exchange_table: Any, name: str, event: Any) -> None:
    exchange = event["exchange"]
    binding = {
        "exchange": exchange,
        "routing_key": draw(binding_patterns(exchange_table[exchange]["type"], _key(name, event))),
    }
    if binding not in bindings:
        bindings.append(binding)


def _routes(exchange_type: str, pattern: str, key: str) -> bool:
    """RabbitMQ's routing, written again here so the oracle does not share planforge's code."""
    if exchange_type == "fanout":
        return True
    if exchange_type == "direct":
        return pattern == key
    return _topic(pattern.split("."), key.split("."))


def _topic(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    if pattern[0] == "#":
        return _topic(pattern[1:], words) or (bool(words) and _topic(pattern, words[1:]))
    return bool(words) and pattern[0] in ("*", words[0]) and _topic(pattern[1:], words[1:])


def _delivered(queues: dict[str, list[dict[str, str]]], exchange_table: Any, event_table: Any) -> dict[str, set[str]]:
    return {
        queue: {
            name
            for name, event in event_table.items()
            for b in bindings
            if b["exchange"] == event["exchange"]
            and _routes(exchange_table[b["exchange"]]["type"], b["routing_key"], _key(name, event))
        }
        for queue, bindings in queues.items()
    }


# --- gateway, flows and the rest ----------------------------------------------------------------------------------


@st.composite
def gateway(draw: st.DrawFn, services: list[_Service]) -> dict[str, Any]:
    """Prefix routes to some services (methods exactly those served), a rate limit, JWT with 1-3 algorithms, CORS."""
    routed = draw(st.lists(st.sampled_from(services), min_size=1, unique_by=lambda s: s.name))
    section: dict[str, Any] = {
        "routes": [
            {
                "path": f"/api/v1/{s.noun}s/*",
                "service": s.name,
                "methods": sorted({r["method"] for r in s.routes}),
                "strip_prefix": "/api/v1",
            }
            for s in sorted(routed, key=lambda s: s.name)
        ],
        "rate_limit": {"requests": draw(st.integers(1, 100)), "per": draw(st.sampled_from(("second", "minute")))},
        "authentication": {
            "jwt": {
                "algorithms": draw(st.lists(st.sampled_from(("RS256", "ES256", "HS256")), min_size=1, unique=True)),
                "issuer": draw(st.sampled_from([s.name for s in services])),
            }
        },
    }
    if draw(st.booleans()):
        section["authentication"]["jwt"]["audience"] = "web-app"
    if draw(st.booleans()):
        section["rate_limit"]["burst"] = draw(st.integers(0, 50))
    if draw(st.booleans()):
        section["cors"] = {"allowed_origins": ["https://app.example.com"], "allowed_headers": ["Authorization"]}
    section["max_body_size"] = draw(st.sampled_from(("64k", "1m", "2000")))
    return section


@st.composite
def flows(
    draw: st.DrawFn, services: list[_Service], gateway_section: dict[str, Any] | None, event_table: dict[str, Any]
) -> list[dict[str, Any]]:
    """Flows of client calls (through the gateway), service calls and event chains with compensation."""
    by_name = {s.name: s for s in services}
    routed = {r["service"] for r in (gateway_section or {}).get("routes", [])}
    found = []
    for index in range(draw(st.integers(0, 3))):
        steps: list[dict[str, Any]] = []
        for client in routed and draw(st.lists(st.sampled_from(sorted(routed)), max_size=2)):
            route = draw(st.sampled_from(by_name[client].routes))
            steps.append({"by": "client", "does": "Calls the API", "call": f"{route['method']} /api/v1{route['path']}"})
        for service in services:
            for call in service.calls if draw(st.booleans()) else ():
                route = next(r for r in by_name[call["service"]].routes if r["id"] == call["route"])
                steps.append(
                    {"by": service.name, "does": "Asks another service", "call": f"{route['method']} {route['path']}"}
                )
        steps += _event_steps(draw, services)
        flow: dict[str, Any] = {"name": f"Flow {WORDS[index]}", "summary": "A generated integration point."}
        if steps:
            flow["steps"] = steps
        elif event_table:
            flow["events"] = sorted(event_table)[:1]
            flow["strategy"] = ["Eventual consistency through events"]
        else:
            continue
        found.append(flow)
    for service in sorted((by_name[name] for name in routed), key=lambda s: s.name):
        steps = _update_steps(service)
        if steps and draw(st.booleans()):
            found.append({"name": f"Update {service.noun}", "summary": "A client changes a resource.", "steps": steps})
    return found


def _update_steps(service: _Service) -> list[dict[str, Any]]:
    """Client steps that create, read and conditionally update one resource (what a data-consistency scenario
    drives), when the service has those routes; else none."""
    by_id = {r["id"]: r for r in service.routes}
    update = next(
        (r for r in service.routes if r["method"] in ("PUT", "PATCH") and r.get("concurrency") == "etag"), None
    )
    create, read = by_id.get(f"create_{service.noun}"), by_id.get(f"get_{service.noun}")
    if update is None or create is None or read is None:
        return []
    calls = [("Creates one", create), ("Reads it and its ETag", read), ("Changes it with If-Match", update)]
    return [{"by": "client", "does": does, "call": f"{r['method']} /api/v1{r['path']}"} for does, r in calls]


def _event_steps(draw: st.DrawFn, services: list[_Service]) -> list[dict[str, Any]]:
    """A publisher's step, then steps of the consumers reacting (some with a compensation event they publish)."""
    published = [(s, e) for s in services for e in s.publishes]
    if not published or not draw(st.booleans()):
        return []
    publisher, event = draw(st.sampled_from(published))
    steps: list[dict[str, Any]] = [{"by": publisher.name, "does": "Publishes", "publishes": event}]
    for consumer in services:
        if any(c["event"] == event for c in consumer.consumes):
            step: dict[str, Any] = {"by": consumer.name, "on": event, "does": "Reacts"}
            if consumer.publishes and draw(st.booleans()):
                step["compensation"] = {"publishes": draw(st.sampled_from(consumer.publishes)), "does": "Undoes it"}
            steps.append(step)
    return steps


def _client_calls(flow: dict[str, Any]) -> list[str]:
    """The calls a flow's client makes (through the gateway)."""
    return [step["call"] for step in flow.get("steps", []) if step.get("by") == "client" and step.get("call")]


@st.composite
def testing(draw: st.DrawFn, flow_list: list[dict[str, Any]], services: list[_Service]) -> dict[str, Any]:
    """Levels, and scenarios of every kind on flows they apply to: each drives a flow whose client calls the
    gateway (a performance test needs a client GET there; data-consistency a client's conditional update of a
    resource its service creates and reads, as the update flows do)."""
    service_names = [s.name for s in services]
    driven = [f for f in flow_list if _client_calls(f)]
    reading = [f for f in driven if any(call.startswith("GET ") for call in _client_calls(f))]
    updates = {step["call"] for s in services if (steps := _update_steps(s)) for step in steps[-1:]}
    updating = [f for f in driven if updates & set(_client_calls(f))]
    kinds = ("happy-path", "service-failure", "network-partition", "performance", "data-consistency")
    scenarios = []
    for kind in draw(st.lists(st.sampled_from(kinds), unique=True)):
        candidates = {"performance": reading, "data-consistency": updating}.get(kind, driven)
        if not candidates:
            continue
        scenario: dict[str, Any] = {
            "name": f"Scenario {kind}",
            "kind": kind,
            "flow": draw(st.sampled_from(candidates))["name"],
        }
        if kind == "service-failure":
            scenario["service"] = draw(st.sampled_from(service_names))
        scenarios.append(scenario)
    return {"levels": [{"name": "Contract Tests", "does": "Every contract"}], "scenarios": scenarios}


def policies() -> st.SearchStrategy[dict[str, Any]]:
    """Policies: resilience (backoff as long as max_retries), discovery, observability (a correlation header), ..."""
    return st.fixed_dictionaries(
        {
            "resilience": st.integers(1, 4).map(
                lambda n: {
                    "retry": {"backoff": [f"{100 * (i + 1)}ms" for i in range(n)], "max_retries": n},
                    "circuit_breaker": {"failure_rate": "50%", "window": "30s", "half_open_after": "10s"},
                    "timeout": "2s",
                }
            ),
            "discovery": st.just({"health_check_interval": "10s", "load_balancing": "server-side"}),
            "observability": st.sampled_from(HEADERS[-1:] if gap("gateway_correlation_header") else HEADERS).map(
                lambda h: {
                    "tracing": {"correlation_header": h, "goals": ["Follow a request"]},
                    "metrics": ["request_rate", "error_rate", "latency"],
                    "alerts": {"error_rate_above": "5%", "p95_latency_above": "500ms"},
                }
            ),
            # jwt and encryption are plan-only promises (warning PF830); mtls has its own tests (test_stack_mtls.py)
            "security": st.just({"service_auth": "none", "service_accounts": True, "pii_masking": True}),
            "deployment": st.sampled_from(("rolling", "canary", "blue-green")).map(lambda s: {"strategy": s}),
        }
    )


# --- the whole manifest -------------------------------------------------------------------------------------------


@st.composite
def manifests(draw: st.DrawFn) -> Feature:
    """A valid manifest across the language, and what RabbitMQ must do with its events."""
    nouns = draw(st.lists(st.sampled_from(NOUNS), min_size=1, max_size=4, unique=True))
    shapes = draw(named_schemas(nouns))
    services = [_Service(f"{n}-service", n, draw(routes(n, shapes))) for n in nouns]
    datastores: dict[str, Any] = {}
    for service in services:
        if draw(st.booleans()):
            datastores[f"{service.noun}-db"] = {
                "kind": "postgres",
                "owner": service.name,
                "title": f"{service.noun} DB",
            }
            service.uses.append(f"{service.noun}-db")
    _calls(draw, services)
    manifest: dict[str, Any] = {
        "planforge": 1,
        "feature": {"name": "Generated Feature", "slug": "generated-feature", "overview": "A manifest nobody wrote."},
    }
    deliveries = _events_section(draw, services, shapes, datastores, manifest)
    caching = _caching(draw, services, datastores)
    manifest["datastores"] = datastores
    manifest["services"] = {s.name: s.as_manifest(draw(st.sampled_from(("core", "support", "edge")))) for s in services}
    manifest["schemas"] = {name: shape.schema for name, shape in shapes.items()}
    manifest.update({k: v for k, v in (("caching", caching),) if v})
    gateway_section = draw(gateway(services)) if draw(st.booleans()) or _needs_jwt(services) else None
    if gateway_section:
        manifest["gateway"] = gateway_section
    flow_list = draw(flows(services, gateway_section, manifest.get("events", {})))
    if flow_list:
        manifest["flows"] = flow_list
    manifest["testing"] = draw(testing(flow_list, services))
    manifest.update(draw(policies()))
    manifest["timeline"] = [{"phase": "Build", "duration": "3d", "tasks": ["Everything"]}]
    manifest["success_criteria"] = ["Every generated check passes"]
    return Feature(manifest, deliveries)


def _needs_jwt(services: list[_Service]) -> bool:
    return any(not r.get("public", False) for s in services for r in s.routes)


def _calls(draw: st.DrawFn, services: list[_Service]) -> None:
    """Some services call routes of others (both directions allowed)."""
    for service in services:
        others = [s for s in services if s is not service]
        for callee in draw(st.lists(st.sampled_from(others), max_size=2, unique_by=lambda s: s.name)) if others else ():
            route = draw(st.sampled_from(callee.routes))
            service.calls.append({"service": callee.name, "route": route["id"], "purpose": "Needs its data"})


def _events_section(
    draw: st.DrawFn, services: list[_Service], shapes: dict[str, Shape], datastores: dict[str, Any], manifest: Any
) -> dict[str, set[str]]:
    """The events and broker; publishers and consumers on the services. Returns event -> queues it must reach."""
    if not draw(st.booleans()):
        return {}
    exchange_table = draw(exchanges())
    event_table = draw(events([s.noun for s in services], sorted(exchange_table), shapes))
    consumers = draw(st.lists(st.sampled_from(services), min_size=1, unique_by=lambda s: s.name))
    section, delivered = draw(broker(exchange_table, event_table, sorted(c.name for c in consumers)))
    by_name = {s.name: s for s in services}
    for queue, names in sorted(delivered.items()):
        consumer = by_name[queue.removesuffix("-queue")]
        consumer.consumes += [{"event": n, "queue": queue, "does": f"Handles {n}"} for n in sorted(names)]
    for name in sorted(event_table):
        publisher = draw(st.sampled_from(services))
        publisher.publishes.append(name)
    datastores["broker"] = {"kind": "rabbitmq", "title": "Event Broker"}
    for service in services:
        if service.publishes or service.consumes:
            service.uses.append("broker")
    manifest["events"] = event_table
    manifest["broker"] = section
    return {name: {q for q, got in delivered.items() if name in got} for name in sorted(event_table)}


def _caching(draw: st.DrawFn, services: list[_Service], datastores: dict[str, Any]) -> dict[str, Any]:
    """Caches on read routes, invalidated by events the caching service consumes that carry the resource's id."""
    caches: dict[str, Any] = {}
    for service in services:
        reads = [r for r in service.routes if r["id"] == f"get_{service.noun}"]
        if not reads or not draw(st.booleans()):
            continue
        name = f"{service.noun}-cache"
        consumed = sorted({c["event"] for c in service.consumes if c["event"].startswith(f"{service.noun}.")})
        cache: dict[str, Any] = {
            "title": f"{service.noun.title()} records",
            "ttl": draw(st.sampled_from(("30s", "5m"))),
        }
        if consumed:
            cache["invalidated_by"] = consumed
        caches[name] = cache
        reads[0]["cache"] = name
        datastores.setdefault("cache", {"kind": "redis", "title": "Redis Cache"})
        service.uses.append("cache")
    return caches
