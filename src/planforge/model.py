"""The immutable model of a feature: everything targets render, with all derived facts computed once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from planforge.frozen import freeze

__all__ = [
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
    "JsonValue",
    "MatrixRow",
    "Model",
    "Parameter",
    "Queue",
    "Response",
    "Retry",
    "Route",
    "Service",
    "Step",
]


@dataclass(frozen=True, slots=True)
class JsonValue:
    """A JSON value from the manifest, frozen as its JSON text (key order kept as written).

    It is decoded once, into read-only containers (planforge.frozen), and every reader shares that.
    """

    text: str
    decoded: Any = field(compare=False, repr=False)

    @classmethod
    def of(cls, value: Any) -> JsonValue:
        """Freeze a plain value."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return cls(text, freeze(json.loads(text)))

    @property
    def value(self) -> Any:
        """The value, read-only (FrozenDict / FrozenList): copy it before changing it."""
        return self.decoded


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
class Cache:
    """A cache: what, for how long, and which events invalidate it."""

    name: str
    title: str
    ttl: str
    ttl_seconds: int | None
    invalidated_by: tuple[str, ...]
    routes: tuple[str, ...]


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

    def service(self, name: str) -> Service:
        """The service called name."""
        return next(s for s in self.services if s.name == name)

    def event(self, name: str) -> Event:
        """The event called name."""
        return next(e for e in self.events if e.name == name)

    def title_of(self, name: str) -> str:
        """Display title of a service or datastore name, or the name itself."""
        titles = {s.name: s.title for s in self.services} | {d.name: d.title for d in self.datastores}
        return titles.get(name, name)
