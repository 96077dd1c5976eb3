"""Build the immutable model from a validated manifest: the one place where facts are derived."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from planforge.amqp import binding_matches
from planforge.conventions import jwt_key_files, key_file_env
from planforge.derive import (
    compensations,
    deployment_order,
    diagram,
    invalidations,
    matrix,
    service_schemas,
    statuses,
)
from planforge.facts import correlation_header, etag_read_route
from planforge.loader import Document, JsonPath
from planforge.model import (
    DEFAULT_JWT_LEEWAY,
    Access,
    Binding,
    Breaker,
    Cache,
    Call,
    Consumption,
    Datastore,
    Delivery,
    Event,
    Exchange,
    Flow,
    Gateway,
    GatewayRoute,
    JsonValue,
    Location,
    Model,
    Parameter,
    Queue,
    Response,
    Retry,
    Route,
    Service,
    SigningKey,
    Step,
)
from planforge.paths import is_under, template_matches
from planforge.sequences import sequence
from planforge.units import percent, seconds

__all__ = ["build_model", "flow_slug", "node_id", "python_name"]

FIRST_PORT = 8001
_DEFAULT_RETRY = {"backoff": ["1s", "2s", "4s"], "max_retries": 3, "dead_letter": True}
_DEFAULT_BREAKER = {"failure_rate": "50%", "window": "60s", "half_open_after": "30s"}


def build_model(document: Document, manifest_ref: str) -> Model:
    """The model of a manifest that passed validation; manifest_ref names it in generated headers."""
    data = document.data
    feature = data["feature"]
    services_raw: dict[str, Any] = data["services"]
    exchanges = _exchanges(data)
    queues = _queues(data, services_raw)
    gateway = _gateway(data.get("gateway"), correlation_header(data))
    located = _locator(document)
    events = _events(data, services_raw, exchanges, queues, located)
    schemas = tuple((name, JsonValue.of(schema)) for name, schema in data.get("schemas", {}).items())
    caches = _caches(data, services_raw, located)
    services = _services(data, gateway, located, caches)
    datastores = _datastores(data, services_raw)
    flows = tuple(_flow(raw, i, services, gateway, datastores) for i, raw in enumerate(data.get("flows", [])))
    services = tuple(replace(s, compensations=compensations(s.name, flows)) for s in services)
    nodes, edges = diagram(services, datastores, events, gateway)
    return Model(
        manifest=manifest_ref,
        name=feature["name"],
        slug=feature["slug"],
        overview=feature["overview"],
        datastores=datastores,
        services=services,
        schemas=schemas,
        events=events,
        exchanges=tuple(exchanges.values()),
        queues=queues,
        gateway=gateway,
        flows=flows,
        retry=_retry(data),
        breaker=_breaker(data),
        caches=caches,
        matrix=matrix(services, events, datastores, caches, gateway),
        diagram_nodes=nodes,
        diagram_edges=edges,
        deployment=deployment_order(services, datastores, gateway, "observability" in data),
        policies=JsonValue.of(_policies(data)),
        correlation_header=correlation_header(data),
        signing_keys=_signing_keys(gateway),
        routed_services=tuple(sorted({r.service for r in gateway.routes})) if gateway else (),
        call_timeout=seconds(data.get("resilience", {}).get("timeout", "5s")),
        token_issuer=gateway.jwt_issuer if gateway and gateway.jwt_issuer in services_raw else None,
        outbox_retention=seconds(data.get("broker", {}).get("outbox_retention", "7d")),
        mtls=data.get("security", {}).get("service_auth") == "mtls",
    )


def _locator(document: Document) -> Any:
    """A function from a path to the Location of the value at that path in the manifest."""

    def located(path: JsonPath) -> Location:
        return Location(path, document.positions.of)

    return located


def _signing_keys(gateway: Gateway | None) -> tuple[SigningKey, ...]:
    """The key files of every JWT algorithm the gateway accepts (RS256 when none is declared)."""
    algorithms = [a for a in (gateway.jwt_algorithms if gateway else ()) if a.lower() != "none"] or ["RS256"]
    return tuple(SigningKey(a, *jwt_key_files(a), key_file_env(a)) for a in algorithms)


_POLICY_DEFAULTS: dict[str, Any] = {
    "resilience": {"compensation": {"pattern": "saga", "audit_log": True}, "timeout": "5s"},
    "discovery": {
        "health_check_interval": "30s",
        "register_on_startup": True,
        "deregister_on_shutdown": True,
        "load_balancing": "client-side",
    },
    "observability": {
        "tracing": {"correlation_header": "X-Correlation-ID", "goals": []},
        "metrics": [],
        "alerts": {
            "unavailable_for": None,
            "error_rate_above": None,
            "queue_depth_above": None,
            "p95_latency_above": None,
        },
    },
    "security": {
        "service_auth": "none",
        "service_accounts": False,
        "key_rotation": None,
        "encryption_in_transit": False,
        "encryption_at_rest": False,
        "pii_masking": True,
    },
    "deployment": {"strategy": None, "rollback": []},
    "performance": {"database": [], "async_processing": []},
    "testing": {"levels": [], "scenarios": []},
    "timeline": [],
    "success_criteria": [],
}
_SCENARIO_DEFAULTS = {"flow": None, "service": None}


def _policies(data: dict[str, Any]) -> dict[str, Any]:
    """The descriptive sections with every optional key filled in, so templates never guess."""
    filled = {key: _merged(default, data.get(key)) for key, default in _POLICY_DEFAULTS.items()}
    filled["testing"]["scenarios"] = [{**_SCENARIO_DEFAULTS, **s} for s in filled["testing"]["scenarios"]]
    return filled


def _merged(default: Any, given: Any) -> Any:
    if given is None:
        return default
    if isinstance(default, dict) and isinstance(given, dict):
        return {**default, **{k: _merged(default.get(k), v) for k, v in given.items()}}
    return given


def flow_slug(name: str, index: int) -> str:
    """A flow's identifier in test names and anchors: 'User Registration' -> user_registration."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or f"flow_{index + 1}"


def python_name(name: str) -> str:
    """A kebab-case manifest name as a Python identifier: user-service -> user_service."""
    return name.replace("-", "_").replace(".", "_")


def node_id(name: str) -> str:
    """A diagram node id: user-service -> USER_SERVICE."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _datastores(data: dict[str, Any], services: dict[str, Any]) -> tuple[Datastore, ...]:
    result = []
    for name, raw in data.get("datastores", {}).items():
        users = tuple(s for s, spec in services.items() if name in spec.get("uses", []))
        title = raw.get("title") or name
        result.append(Datastore(name, raw["kind"], title, raw.get("owner"), node_id(name), users))
    return tuple(result)


def _services(
    data: dict[str, Any],
    gateway: Gateway | None,
    located: Any,
    caches: tuple[Cache, ...],
) -> tuple[Service, ...]:
    owners = {n: d.get("owner") for n, d in data.get("datastores", {}).items() if d.get("kind") == "postgres"}
    # The manifest's own schema data (what the frozen values hold): reading refs needs no decoded copy.
    named: dict[str, Any] = data.get("schemas", {})
    order = {name: index for index, name in enumerate(named)}
    result = []
    for index, (name, raw) in enumerate(sorted(data["services"].items())):
        raw_routes = raw.get("routes", [])
        routes = tuple(
            _route(name, r, i, raw_routes, gateway, located(("services", name, "routes", i)))
            for i, r in enumerate(raw_routes)
        )
        consumes = tuple(Consumption(name, c["event"], c["queue"], c.get("does", "")) for c in raw.get("consumes", []))
        calls = tuple(Call(name, c["service"], c["route"], c.get("purpose", "")) for c in raw.get("calls", []))
        result.append(
            Service(
                name=name,
                title=raw["title"],
                summary=raw.get("summary", ""),
                layer=raw["layer"],
                port=raw.get("port", FIRST_PORT + index),
                package=python_name(name),
                node=node_id(name),
                uses=tuple(raw.get("uses", [])),
                routes=routes,
                publishes=tuple(raw.get("publishes", [])),
                consumes=consumes,
                calls=calls,
                owns=tuple(d for d, owner in owners.items() if owner == name),
                schemas=service_schemas(routes, named, order),
                caches=tuple(c.name for c in caches if c.owner == name or _invalidates(c, consumes, raw, data)),
                invalidations=invalidations(name, consumes, caches, raw, data),
                location=located(("services", name)),
            )
        )
    return tuple(result)


# The widest integer any datastore takes (PostgreSQL bigint, Redis): an integer parameter without bounds of its
# own gets these, so out-of-range input is refused with a 4xx by the API, never a 5xx from a datastore.
INT64_RANGE = (-(2**63), 2**63 - 1)


def bounded(schema: Any) -> Any:
    """A parameter schema; an integer one with the int64 range as minimum/maximum where it sets none."""
    if not isinstance(schema, dict) or schema.get("type") != "integer":
        return schema
    bounds = {}
    if "minimum" not in schema and "exclusiveMinimum" not in schema:
        bounds["minimum"] = INT64_RANGE[0]
    if "maximum" not in schema and "exclusiveMaximum" not in schema:
        bounds["maximum"] = INT64_RANGE[1]
    return {**schema, **bounds}


def _invalidates(cache: Cache, consumes: tuple[Consumption, ...], raw: dict[str, Any], data: dict[str, Any]) -> bool:
    """True when the service drops entries of cache on an event it consumes (it needs a redis for that)."""
    redis = {n for n, d in data.get("datastores", {}).items() if d.get("kind") == "redis"}
    uses_redis = bool(redis & set(raw.get("uses", [])))
    return uses_redis and any(c.event in cache.invalidated_by for c in consumes)


def _parameter_source(raw: Any) -> str | tuple[str, str, str] | None:
    """A parameter's declared source: "client", or (service, route, field) of the response that holds its value."""
    if isinstance(raw, dict):
        return (raw["service"], raw["route"], raw["field"])
    return raw if isinstance(raw, str) else None


def _route(
    service: str, raw: dict[str, Any], index: int, siblings: list[Any], gateway: Gateway | None, location: Location
) -> Route:
    params = dict(raw.get("parameters", {}))
    for name in re.findall(r"\{([A-Za-z][A-Za-z0-9_]*)\}", raw["path"]):
        params.setdefault(name, {"in": "path"})
    parameters = tuple(
        Parameter(
            name,
            p["in"],
            JsonValue.of(bounded(p.get("schema", {"type": "string"}))),
            p["in"] == "path" or bool(p.get("required", False)),
            p.get("description", ""),
            _parameter_source(p.get("source")),
        )
        for name, p in params.items()
    )
    responses = tuple(
        sorted((Response(int(code), schema) for code, schema in raw["responses"].items()), key=lambda r: r.status)
    )
    etag, read = _etag(raw, index, siblings)
    return Route(
        service=service,
        id=raw["id"],
        method=raw["method"],
        path=raw["path"],
        summary=raw.get("summary", ""),
        public=bool(raw.get("public", False)),
        request=raw.get("request"),
        parameters=parameters,
        responses=responses,
        cache=raw.get("cache"),
        concurrency=raw.get("concurrency"),
        gateway_path=_public_path(service, raw["path"], raw["method"], gateway),
        etag=etag,
        etag_read=read,
        answers=statuses(raw, responses, bool(parameters), etag),
        location=location,
        access=_access(raw.get("access")),
    )


def _access(raw: dict[str, Any] | None) -> Access | None:
    if raw is None:
        return None
    return Access(raw.get("owner"), tuple(raw.get("scopes", ())), tuple(raw.get("roles", ())))


def _etag(raw: dict[str, Any], index: int, siblings: list[Any]) -> tuple[str | None, str | None]:
    """("update", read route id) for a conditional update; ("read", None) for a GET that gives the ETag
    (declared so, or the read route of a conditional update); else (None, None)."""
    if raw["method"] != "GET":
        if raw.get("concurrency") != "etag":
            return None, None
        read = etag_read_route(siblings, index)
        return "update", siblings[read]["id"] if read is not None else None
    readers = [etag_read_route(siblings, i) for i, r in enumerate(siblings) if r.get("concurrency") == "etag"]
    return ("read", None) if raw.get("concurrency") == "etag" or index in readers else (None, None)


def _public_path(service: str, path: str, method: str, gateway: Gateway | None) -> str | None:
    """The path a client uses through the gateway for a service route, if any route exposes it."""
    if gateway is None:
        return None
    for route in gateway.routes:
        if route.service != service or method not in route.methods:
            continue
        public = route.strip_prefix + path
        if is_under(public, route.prefix):
            return public
    return None


def _exchanges(data: dict[str, Any]) -> dict[str, Exchange]:
    raw = data.get("broker", {}).get("exchanges", {})
    return {n: Exchange(n, e.get("type", "topic"), bool(e.get("durable", True))) for n, e in sorted(raw.items())}


def _queues(data: dict[str, Any], services: dict[str, Any]) -> tuple[Queue, ...]:
    result = []
    for name, raw in sorted(data.get("broker", {}).get("queues", {}).items()):
        bindings = tuple(Binding(name, b["exchange"], b["routing_key"]) for b in raw["bindings"])
        consumers = tuple(
            sorted({s for s, spec in services.items() for c in spec.get("consumes", []) if c["queue"] == name})
        )
        durable = bool(raw.get("durable", True))
        kind = raw.get("type", "quorum" if durable else "classic")
        result.append(Queue(name, durable, raw.get("max_length"), bindings, consumers, kind))
    return tuple(result)


def _events(
    data: dict[str, Any],
    services: dict[str, Any],
    exchanges: dict[str, Exchange],
    queues: tuple[Queue, ...],
    located: Any,
) -> tuple[Event, ...]:
    result = []
    for name, raw in sorted(data.get("events", {}).items()):
        key = raw.get("routing_key", name)
        publishers = tuple(sorted(s for s, spec in services.items() if name in spec.get("publishes", [])))
        deliveries = tuple(_deliveries(name, raw["exchange"], key, services, exchanges, queues))
        result.append(
            Event(
                name=name,
                exchange=raw["exchange"],
                routing_key=key,
                summary=raw.get("summary", ""),
                data=JsonValue.of(raw["data"]),
                pii=tuple(raw.get("pii", [])),
                examples=tuple(JsonValue.of(e) for e in raw.get("examples", [])),
                publishers=publishers,
                deliveries=deliveries,
                location=located(("events", name)),
            )
        )
    return tuple(result)


def _deliveries(
    event: str,
    exchange: str,
    key: str,
    services: dict[str, Any],
    exchanges: dict[str, Exchange],
    queues: tuple[Queue, ...],
) -> list[Delivery]:
    kind = exchanges[exchange].type if exchange in exchanges else "topic"
    found: list[Delivery] = []
    for queue in queues:
        binding = next(
            (b for b in queue.bindings if b.exchange == exchange and binding_matches(kind, b.routing_key, key)), None
        )
        if binding is None:
            continue
        consumers: list[str | None] = [
            s
            for s, spec in sorted(services.items())
            if any(c["queue"] == queue.name and c["event"] == event for c in spec.get("consumes", []))
        ]
        found.extend(Delivery(event, exchange, queue.name, binding.routing_key, c) for c in (consumers or [None]))
    return found


def _gateway(raw: dict[str, Any] | None, correlation: str) -> Gateway | None:
    if raw is None:
        return None
    routes = tuple(
        GatewayRoute(r["path"][:-2], r["service"], tuple(r["methods"]), r.get("strip_prefix", ""))
        for r in raw["routes"]
    )
    rate = raw.get("rate_limit", {"requests": 100, "per": "minute"})
    jwt = raw.get("authentication", {}).get("jwt", {})
    cors = raw.get("cors", {})
    return Gateway(
        routes=routes,
        rate_requests=rate["requests"],
        rate_per=rate["per"],
        rate_key=rate.get("key", "client_ip"),
        burst=rate.get("burst", rate["requests"]),
        jwt_algorithms=tuple(jwt.get("algorithms", ())),
        jwt_issuer=jwt.get("issuer"),
        jwt_audience=jwt.get("audience"),
        jwt_leeway=int(seconds(jwt["leeway"])) if "leeway" in jwt else DEFAULT_JWT_LEEWAY,
        cors_origins=tuple(cors.get("allowed_origins", ())),
        # By default a browser may send what the stack reads: the token, JSON, and the manifest's correlation header.
        cors_headers=tuple(cors.get("allowed_headers", ("Authorization", "Content-Type", correlation))),
        cors_max_age=int(seconds(cors.get("max_age", "10m"))),
        request_validation=raw.get("request_validation", True),
        max_body_size=raw.get("max_body_size", "1m"),
    )


def _flow(
    raw: dict[str, Any],
    index: int,
    services: tuple[Service, ...],
    gateway: Gateway | None,
    datastores: tuple[Datastore, ...] = (),
) -> Flow:
    steps = tuple(
        Step(
            i + 1,
            s["by"],
            s["does"],
            s.get("call"),
            s.get("on"),
            s.get("publishes"),
            s.get("compensation", {}).get("publishes"),
            s.get("compensation", {}).get("does", ""),
        )
        for i, s in enumerate(raw.get("steps", []))
    )
    participants: list[str] = []
    for step in steps:
        actor = "gateway" if step.by == "client" and step.call else step.by
        for who in [step.by, "gateway"] if actor == "gateway" else [step.by]:
            if who != "client" and who not in participants:
                participants.append(who)
    rest = tuple(dict.fromkeys(_service_call(step.call, gateway) for step in steps if step.call))
    published = [e for step in steps for e in (step.publishes, step.compensation_event) if e]
    events = tuple(dict.fromkeys([*published, *raw.get("events", [])]))
    response = _flow_response(steps, services, gateway)
    slug = flow_slug(raw["name"], index)
    participants_of_sequence, lines = sequence(steps, services, datastores, gateway)
    return Flow(
        raw["name"],
        slug,
        raw.get("summary", ""),
        tuple(participants),
        steps,
        tuple(raw.get("strategy", [])),
        events,
        rest,
        events,
        response,
        participants_of_sequence,
        lines,
    )


def _service_call(call: str | None, gateway: Gateway | None) -> str:
    """'POST /api/v1/users/register' as the service sees it: 'POST /users/register'."""
    assert call is not None
    method, path = call.split(" ", 1)
    for route in gateway.routes if gateway else ():
        if is_under(path, route.prefix) and route.strip_prefix and is_under(path, route.strip_prefix):
            return f"{method} {path[len(route.strip_prefix) :]}"
    return call


def _flow_response(steps: tuple[Step, ...], services: tuple[Service, ...], gateway: Gateway | None) -> str | None:
    for step in steps:
        if not step.call:
            continue
        method, path = _service_call(step.call, gateway).split(" ", 1)
        for route in (r for s in services for r in s.routes):
            if route.method == method and template_matches(route.path, path):
                return route.success.schema
    return None


def _retry(data: dict[str, Any]) -> Retry:
    raw = data.get("resilience", {}).get("retry", _DEFAULT_RETRY)
    backoff = tuple(raw["backoff"])
    return Retry(backoff, tuple(seconds(b) for b in backoff), raw["max_retries"], bool(raw.get("dead_letter", True)))


def _breaker(data: dict[str, Any]) -> Breaker:
    raw = {**_DEFAULT_BREAKER, **data.get("resilience", {}).get("circuit_breaker", {})}
    return Breaker(
        percent(raw["failure_rate"]),
        seconds(raw["window"]),
        seconds(raw["half_open_after"]),
        int(raw.get("minimum_calls", 10)),
        {k: str(raw[k]) for k in ("failure_rate", "window", "half_open_after")},
    )


def _caches(data: dict[str, Any], services: dict[str, Any], located: Any) -> tuple[Cache, ...]:
    result = []
    for name, raw in data.get("caching", {}).items():
        ttl = raw["ttl"]
        reading = [(s, r["id"]) for s, spec in sorted(services.items()) for r in spec.get("routes", [])]
        reading = [(s, r) for s, r in reading if _route_cache(services, s, r) == name]
        routes = tuple(f"{s}.{r}" for s, r in reading)
        result.append(
            Cache(
                name,
                raw["title"],
                ttl,
                None if ttl == "until-expiry" else int(seconds(ttl)),
                tuple(raw.get("invalidated_by", [])),
                routes,
                owner=reading[0][0] if reading else None,
                location=located(("caching", name)),
            )
        )
    return tuple(result)


def _route_cache(services: dict[str, Any], service: str, route: str) -> str | None:
    return next((r.get("cache") for r in services[service].get("routes", []) if r["id"] == route), None)
