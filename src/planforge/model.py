"""The immutable model of a feature: everything targets render, with all derived facts computed once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from planforge.frozen import freeze

T = TypeVar("T")

__all__ = [
    "DEFAULT_JWT_LEEWAY",
    "Access",
    "Binding",
    "Breaker",
    "Cache",
    "Call",
    "Consumption",
    "Datastore",
    "Delivery",
    "DeploymentPhase",
    "DiagramEdge",
    "DiagramNode",
    "Event",
    "Exchange",
    "Flow",
    "Gateway",
    "GatewayRoute",
    "Invalidation",
    "JsonValue",
    "Location",
    "MatrixRow",
    "Model",
    "Parameter",
    "Queue",
    "Response",
    "Retry",
    "Route",
    "SequenceMessage",
    "Service",
    "SigningKey",
    "Step",
]


# Seconds of clock skew allowed on exp and nbf when the manifest sets no gateway.authentication.jwt.leeway.
DEFAULT_JWT_LEEWAY = 30


_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class JsonValue:
    """A JSON value from the manifest, frozen as its JSON text (key order kept as written).

    It is decoded on first use, once, into read-only containers (planforge.frozen), and every reader
    shares that; a value nobody reads (validate builds the model but renders nothing) is never decoded.
    """

    text: str
    decoded: Any = field(default=_UNDECODED, compare=False, repr=False)

    @classmethod
    def of(cls, value: Any) -> JsonValue:
        """Freeze a plain value."""
        return cls(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    @property
    def value(self) -> Any:
        """The value, read-only (FrozenDict / FrozenList): copy it before changing it."""
        if self.decoded is _UNDECODED:
            object.__setattr__(self, "decoded", freeze(json.loads(self.text)))
        return self.decoded


@dataclass(frozen=True, slots=True)
class Location:
    """Where a node is written in the manifest (1-based line and column), for diagnostics found late.

    It holds the node's path and asks the manifest's positions only when read: a manifest without
    problems is never located (planforge.loader.Positions). Location() is nowhere (line and column 0).
    """

    path: tuple[str | int, ...] = ()
    locate: Callable[[tuple[str | int, ...]], tuple[int, int]] | None = field(default=None, compare=False, repr=False)

    @property
    def line(self) -> int:
        """1-based line (0 when nowhere)."""
        return self.locate(self.path)[0] if self.locate else 0

    @property
    def col(self) -> int:
        """1-based column (0 when nowhere)."""
        return self.locate(self.path)[1] if self.locate else 0


@dataclass(frozen=True, slots=True)
class Datastore:
    """A database, cache or broker; postgres ones are owned by one service."""

    name: str
    kind: str
    title: str
    owner: str | None
    node: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path or query parameter of a route."""

    name: str
    location: str
    schema: JsonValue
    required: bool
    description: str
    # testing's source of a path parameter's value: "client", (service, route id, response field), or None
    source: str | tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route besides holding a valid token (the manifest's `access`), checked by the service."""

    owner: str | None = None
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """'owner (userId), scopes orders:read' for documents."""
        parts = [f"owner ({self.owner})"] if self.owner else []
        parts += [f"scopes {' '.join(self.scopes)}"] if self.scopes else []
        parts += [f"roles {' '.join(self.roles)}"] if self.roles else []
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Response:
    """One status code of a route and the schema of its body (None: no body)."""

    status: int
    schema: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """A REST operation a service serves."""

    service: str
    id: str
    method: str
    path: str
    summary: str
    public: bool
    request: str | None
    parameters: tuple[Parameter, ...]
    responses: tuple[Response, ...]
    cache: str | None
    concurrency: str | None
    gateway_path: str | None
    # ETag: "read" (answers carry the ETag of the current version) or "update" (If-Match must name it;
    # etag_read is the id of the GET route whose answer is the current version).
    etag: str | None = None
    etag_read: str | None = None
    # (status, schema name or None) of every answer: the manifest's, 401/412/422/428 where due, then default.
    answers: tuple[tuple[str, str | None], ...] = ()
    location: Location = Location()
    access: Access | None = None

    @property
    def path_parameters(self) -> tuple[Parameter, ...]:
        """The path parameters, in the order the path names them."""
        found = [p for p in self.parameters if p.location == "path"]
        return tuple(sorted(found, key=lambda p: self.path.find("{" + p.name + "}")))

    @property
    def success(self) -> Response:
        """The first 2xx response (routes always declare one after validation)."""
        return next((r for r in self.responses if 200 <= r.status < 300), self.responses[0])


@dataclass(frozen=True, slots=True)
class Call:
    """A synchronous REST call from one service to a route of another."""

    source: str
    target: str
    route: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Consumption:
    """A service consuming an event from one of its queues."""

    service: str
    event: str
    queue: str
    does: str


@dataclass(frozen=True, slots=True)
class Service:
    """A microservice of the feature."""

    name: str
    title: str
    summary: str
    layer: str
    port: int
    package: str
    node: str
    uses: tuple[str, ...]
    routes: tuple[Route, ...]
    publishes: tuple[str, ...]
    consumes: tuple[Consumption, ...]
    calls: tuple[Call, ...]
    owns: tuple[str, ...]
    # Named schemas the routes need, transitively, in manifest order ("Problem" first).
    schemas: tuple[str, ...] = ()
    # Caches the service reads through or invalidates, and the invalidations it performs on events it consumes.
    caches: tuple[str, ...] = ()
    invalidations: tuple[Invalidation, ...] = ()
    # (consumed event, compensation event) for every flow step the service performs on an event.
    compensations: tuple[tuple[str, str], ...] = ()
    location: Location = Location()


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event reaching a queue through a binding, and the service that consumes it there."""

    event: str
    exchange: str
    queue: str
    pattern: str
    consumer: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """An event: its exchange and routing key, payload schema, producers and deliveries."""

    name: str
    exchange: str
    routing_key: str
    summary: str
    data: JsonValue
    pii: tuple[str, ...]
    examples: tuple[JsonValue, ...]
    publishers: tuple[str, ...]
    deliveries: tuple[Delivery, ...]
    location: Location = Location()

    @property
    def consumers(self) -> tuple[str, ...]:
        """Services that consume the event, in order."""
        return tuple(sorted({d.consumer for d in self.deliveries if d.consumer}))


@dataclass(frozen=True, slots=True)
class Exchange:
    """A broker exchange."""

    name: str
    type: str
    durable: bool


@dataclass(frozen=True, slots=True)
class Binding:
    """A queue bound to an exchange with a routing pattern."""

    queue: str
    exchange: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue, its bindings and the services consuming from it; type is RabbitMQ's (quorum or classic)."""

    name: str
    durable: bool
    max_length: int | None
    bindings: tuple[Binding, ...]
    consumers: tuple[str, ...]
    type: str = "quorum"


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    """A gateway prefix routed to a service, with the methods it lets through."""

    prefix: str
    service: str
    methods: tuple[str, ...]
    strip_prefix: str


@dataclass(frozen=True, slots=True)
class Gateway:
    """The API gateway: routing, rate limit, JWT and CORS."""

    routes: tuple[GatewayRoute, ...]
    rate_requests: int
    rate_per: str
    rate_key: str
    burst: int
    jwt_algorithms: tuple[str, ...]
    jwt_issuer: str | None
    jwt_audience: str | None
    # Clock skew allowed on exp and nbf, in seconds: the gateway and the services use the same value.
    jwt_leeway: int
    cors_origins: tuple[str, ...]
    cors_headers: tuple[str, ...]
    cors_max_age: int
    request_validation: bool
    max_body_size: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a flow."""

    number: int
    by: str
    does: str
    call: str | None
    on: str | None
    publishes: str | None
    compensation_event: str | None
    compensation_does: str


@dataclass(frozen=True, slots=True)
class SequenceMessage:
    """One line of a flow's sequence diagram, between participant ids (DiagramNode ids).

    kind: call (request), reply, event (asynchronous), note (over source), opt (a block titled text
    that lasts until the next 'end'), end.
    """

    kind: str
    source: str
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Flow:
    """An integration point: ordered steps, or a synchronisation strategy with its events."""

    name: str
    slug: str
    summary: str
    participants: tuple[str, ...]
    steps: tuple[Step, ...]
    strategy: tuple[str, ...]
    events: tuple[str, ...]
    rest_contracts: tuple[str, ...]
    event_contracts: tuple[str, ...]
    response: str | None
    # The sequence diagram derived from the steps: its participants in order of appearance, and its lines.
    sequence_participants: tuple[DiagramNode, ...] = ()
    sequence: tuple[SequenceMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class Retry:
    """Consumer retries: delays in seconds, how many, and whether failures dead-letter."""

    backoff: tuple[str, ...]
    delays: tuple[float, ...]
    max_retries: int
    dead_letter: bool


@dataclass(frozen=True, slots=True)
class Breaker:
    """Circuit breaker around outgoing HTTP calls."""

    failure_rate: float
    window: float
    half_open_after: float
    minimum_calls: int
    text: dict[str, str]


@dataclass(frozen=True, slots=True)
class Invalidation:
    """On event, drop entries of a cache that owner's routes read through: the key is the values of the
    event's fields keys (joined with '/'); no keys (a cache no route reads through) drops every entry."""

    event: str
    cache: str
    owner: str
    keys: tuple[str, ...]
    whole: bool
    # True: the owner drops its entries when it publishes the event (it made the change); else on consuming it.
    published: bool = False


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key files of one JWT algorithm: what verifiers read, what the issuer signs with, and the gateway's
    environment variable naming the verifying file."""

    algorithm: str
    public_file: str
    private_file: str
    gateway_env: str

    @property
    def symmetric(self) -> bool:
        """True for HS* algorithms: one shared secret in both files."""
        return self.algorithm.startswith("HS")


@dataclass(frozen=True, slots=True)
class Cache:
    """A cache: what, for how long, and which events invalidate it."""

    name: str
    title: str
    ttl: str
    ttl_seconds: int | None
    invalidated_by: tuple[str, ...]
    routes: tuple[str, ...]
    # The service whose routes read through it (its Redis key space), if any.
    owner: str | None = None
    location: Location = Location()


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """A row of the service communication matrix."""

    source: str
    target: str
    protocol: str
    pattern: str
    purpose: str


@dataclass(frozen=True, slots=True)
class DiagramNode:
    """A node of the architecture diagram."""

    id: str
    label: str
    shape: str


@dataclass(frozen=True, slots=True)
class DiagramEdge:
    """An edge of the architecture diagram: solid for calls and data, dotted for events."""

    source: str
    target: str
    dotted: bool
    label: str


@dataclass(frozen=True, slots=True)
class DeploymentPhase:
    """One step of the derived deployment order."""

    number: int
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Model:
    """Everything about one feature, validated and derived; the only input of every target."""

    manifest: str
    name: str
    slug: str
    overview: str
    datastores: tuple[Datastore, ...]
    services: tuple[Service, ...]
    schemas: tuple[tuple[str, JsonValue], ...]
    events: tuple[Event, ...]
    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    gateway: Gateway | None
    flows: tuple[Flow, ...]
    retry: Retry
    breaker: Breaker
    caches: tuple[Cache, ...]
    matrix: tuple[MatrixRow, ...]
    diagram_nodes: tuple[DiagramNode, ...]
    diagram_edges: tuple[DiagramEdge, ...]
    deployment: tuple[DeploymentPhase, ...]
    policies: JsonValue
    # Derived once for every target: the correlation header, the JWT signing keys, the routed services.
    correlation_header: str = "X-Correlation-ID"
    signing_keys: tuple[SigningKey, ...] = ()
    routed_services: tuple[str, ...] = ()
    # Seconds an outgoing HTTP call may take (resilience.timeout).
    call_timeout: float = 5.0
    # The service that issues tokens (the gateway's JWT issuer, when it names a service).
    token_issuer: str | None = None

    @property
    def signing_key(self) -> SigningKey:
        """The key services sign and verify with: the first algorithm the gateway accepts (RS256 without one)."""
        return self.signing_keys[0]

    # Seconds a published outbox row is kept before the relay deletes it (broker.outbox_retention).
    outbox_retention: float = 7 * 86400.0
    # security.service_auth: mtls: services serve HTTPS that requires a client certificate from the feature's CA.
    mtls: bool = False
    # What targets derive from the model once rather than once per service (see derived()).
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """The value build() derives from this model, built on first use and kept (key names it). What a target
        asks for once per service but that depends on the whole model (every named schema, by name) is
        built once, so the work grows with the feature, not with services x schemas."""
        if key not in self._derived:
            self._derived[key] = build()
        found: T = self._derived[key]
        return found

    def named_schemas(self) -> Mapping[str, Any]:
        """Every named schema's value by name, in manifest order (read-only; built once)."""
        return self.derived("named schemas", lambda: {name: schema.value for name, schema in self.schemas})

    def service(self, name: str) -> Service:
        """The service called name."""
        return next(s for s in self.services if s.name == name)

    def event(self, name: str) -> Event:
        """The event called name."""
        return next(e for e in self.events if e.name == name)

    def schema(self, name: str) -> JsonValue:
        """The named schema called name."""
        return self.derived("schemas by name", lambda: dict(self.schemas))[name]

    def title_of(self, name: str) -> str:
        """Display title of a service or datastore name, or the name itself."""
        titles = {s.name: s.title for s in self.services} | {d.name: d.title for d in self.datastores}
        return titles.get(name, name)
