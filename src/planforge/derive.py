"""Facts derived from the whole feature: the communication matrix, the diagram, the deployment order."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from planforge.facts import cache_invalidations
from planforge.model import (
    Cache,
    Consumption,
    Datastore,
    DeploymentPhase,
    DiagramEdge,
    DiagramNode,
    Event,
    Flow,
    Gateway,
    Invalidation,
    MatrixRow,
    Response,
    Route,
    Service,
)
from planforge.schemawalk import referenced

__all__ = [
    "DATASTORE_PORTS",
    "KUBERNETES_VERSION",
    "NetworkEdge",
    "compensations",
    "deployment_order",
    "diagram",
    "event_links",
    "invalidations",
    "kubernetes_tracks",
    "matrix",
    "network_edges",
    "service_schemas",
    "statuses",
]

# The Kubernetes version deploy/k8s/ is written for and validated against (kubernetes-validate --strict).
KUBERNETES_VERSION = "1.33.0"
# The TCP port of each kind of datastore, as services reach it.
DATASTORE_PORTS = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672}

_LAYERS = (("core", "Core services"), ("support", "Support services"), ("edge", "Edge services"))
_DB_SHAPE = {"postgres": "database", "redis": "box", "rabbitmq": "box"}


def event_links(services: tuple[Service, ...], events: tuple[Event, ...]) -> dict[tuple[str, str], list[str]]:
    """(publisher, consumer) -> the events that flow between them, in name order."""
    links: dict[tuple[str, str], list[str]] = defaultdict(list)
    published = {s.name: set(s.publishes) for s in services}
    for event in events:
        for consumer in event.consumers:
            for publisher in event.publishers:
                if event.name in published.get(publisher, ()) and publisher != consumer:
                    links[(publisher, consumer)].append(event.name)
    return dict(sorted(links.items()))


def matrix(
    services: tuple[Service, ...],
    events: tuple[Event, ...],
    datastores: tuple[Datastore, ...],
    caches: tuple[Cache, ...],
    gateway: Gateway | None,
) -> tuple[MatrixRow, ...]:
    """Who talks to whom, how and why: gateway routes, REST calls, events and cache use."""
    titles = {s.name: s.title for s in services} | {d.name: d.title for d in datastores}
    rows: list[MatrixRow] = []
    for service in services if gateway else ():
        if any(r.service == service.name for r in gateway.routes):  # type: ignore[union-attr]
            purpose = service.summary or ", ".join(r.id for r in service.routes) or "REST API"
            rows.append(MatrixRow("API Gateway", service.title, "REST", "Request-Response", purpose))
    for service in services:
        for call in service.calls:
            rows.append(
                MatrixRow(service.title, titles[call.target], "REST", "Request-Response", call.purpose or call.route)
            )
    for (publisher, consumer), names in event_links(services, events).items():
        rows.append(MatrixRow(titles[publisher], titles[consumer], "Event", "Pub-Sub", ", ".join(names)))
    cache_titles = {c.name: c.title for c in caches}
    for store in (d for d in datastores if d.kind == "redis"):
        for user in store.users:
            used = sorted({cache_titles.get(r.cache, r.cache) for r in _routes_of(services, user) if r.cache})
            rows.append(MatrixRow(titles[user], store.title, "Redis", "Cache-Aside", ", ".join(used) or "Caching"))
    return tuple(rows)


def _routes_of(services: tuple[Service, ...], name: str) -> tuple:  # type: ignore[type-arg]
    return next((s.routes for s in services if s.name == name), ())


def diagram(
    services: tuple[Service, ...],
    datastores: tuple[Datastore, ...],
    events: tuple[Event, ...],
    gateway: Gateway | None,
) -> tuple[tuple[DiagramNode, ...], tuple[DiagramEdge, ...]]:
    """Nodes and edges of the architecture diagram."""
    nodes = [DiagramNode("CLIENT", "Client Application", "box")]
    edges: list[DiagramEdge] = []
    if gateway:
        nodes.append(DiagramNode("GATEWAY", "API Gateway", "box"))
        edges.append(DiagramEdge("CLIENT", "GATEWAY", False, ""))
        routed = sorted({r.service for r in gateway.routes})
        node_of = {s.name: s.node for s in services}
        edges.extend(DiagramEdge("GATEWAY", node_of[name], False, "") for name in routed if name in node_of)
    nodes.extend(DiagramNode(s.node, s.title, "box") for s in services)
    nodes.extend(DiagramNode(d.node, d.title, _DB_SHAPE[d.kind]) for d in datastores)
    for service in services:
        edges.extend(DiagramEdge(service.node, _node(datastores, u), False, "") for u in service.uses)
        edges.extend(DiagramEdge(service.node, _node(services, c.target), False, "REST") for c in service.calls)
    brokers = [d for d in datastores if d.kind == "rabbitmq"]
    for service in services if brokers else ():
        if service.consumes:
            edges.append(DiagramEdge(brokers[0].node, service.node, False, ""))
    for (publisher, consumer), names in event_links(services, events).items():
        edges.append(DiagramEdge(_node(services, publisher), _node(services, consumer), True, ", ".join(names)))
    return tuple(nodes), tuple(dict.fromkeys(edges))


def _node(items: tuple[Service, ...] | tuple[Datastore, ...], name: str) -> str:
    return next(str(i.node) for i in items if i.name == name)


def deployment_order(
    services: tuple[Service, ...], datastores: tuple[Datastore, ...], gateway: Gateway | None, monitoring: bool
) -> tuple[DeploymentPhase, ...]:
    """Infrastructure first, then layers (callees before callers), then the gateway and monitoring."""
    phases: list[tuple[str, tuple[str, ...]]] = []
    if datastores:
        phases.append(("Infrastructure", tuple(d.title for d in datastores)))
    for layer, title in _LAYERS:
        members = [s for s in services if s.layer == layer]
        if members:
            phases.append((title, tuple(s.title for s in _callees_first(members))))
    if gateway:
        phases.append(("API Gateway", ("API Gateway",)))
    if monitoring:
        phases.append(("Monitoring and logging", ("Metrics", "Alerts", "Logs")))
    return tuple(DeploymentPhase(i + 1, name, members) for i, (name, members) in enumerate(phases))


def _callees_first(members: list[Service]) -> list[Service]:
    """Order services of one layer so that a service comes after those it calls (ties by name)."""
    names = {s.name for s in members}
    pending = {s.name: {c.target for c in s.calls if c.target in names and c.target != s.name} for s in members}
    ordered: list[str] = []
    while pending:
        ready = sorted(n for n, deps in pending.items() if deps <= set(ordered)) or sorted(pending)[:1]
        ordered.append(ready[0])
        pending.pop(ready[0])
    by_name = {s.name: s for s in members}
    return [by_name[n] for n in ordered]


def statuses(
    raw: dict[str, Any], responses: tuple[Response, ...], has_parameters: bool, etag: str | None
) -> tuple[tuple[str, str | None], ...]:
    """(status, schema name or None) of every answer of a route: the manifest's, then 401 (not public), 403 (access
    rules), 412 and 428 (conditional update), 422 (anything to validate) where due, then the problem+json default."""
    declared: dict[str, str | None] = {str(r.status): r.schema for r in responses}
    if not raw.get("public", False):
        declared.setdefault("401", "Problem")
    if raw.get("access") is not None:
        declared.setdefault("403", "Problem")
    if etag == "update":
        declared.setdefault("412", "Problem")
        declared.setdefault("428", "Problem")
    if raw.get("request") or has_parameters:
        declared.setdefault("422", "Problem")
    return (*sorted(declared.items()), ("default", "Problem"))


def service_schemas(routes: tuple[Route, ...], named: dict[str, Any], order: dict[str, int]) -> tuple[str, ...]:
    """The named schemas a service's routes need (transitively), in manifest order (order: each name's
    index in named), Problem first."""
    roots: list[Any] = []
    for route in routes:
        roots.extend({"$ref": r.schema} for r in route.responses if r.schema)
        if route.request:
            roots.append({"$ref": route.request})
        roots.extend(p.schema.value for p in route.parameters)
    wanted = referenced(named, roots, order)
    return ("Problem", *(name for name in wanted if name != "Problem"))


def invalidations(
    service: str,
    consumes: tuple[Consumption, ...],
    caches: tuple[Cache, ...],
    raw: dict[str, Any],
    data: dict[str, Any],
) -> tuple[Invalidation, ...]:
    """What a service drops from caches when an event it consumes arrives: the entries the event identifies in
    the key space of each service whose routes read through the cache; a cache no route reads through is
    cleared whole in the service's own key space. A service whose routes read through a cache drops the
    entries an event it publishes identifies, as it publishes it. A service without redis invalidates nothing."""
    redis = {n for n, d in data.get("datastores", {}).items() if d.get("kind") == "redis"}
    if not redis & set(raw.get("uses", [])):
        return ()
    consumed = {c.event for c in consumes}
    published = set(raw.get("publishes", []))
    found: list[Invalidation] = []
    for fact in cache_invalidations(data):
        if fact.service == service and fact.event in published and not fact.missing:
            found.append(Invalidation(fact.event, fact.cache, service, fact.keys, False, published=True))
    for cache in caches:
        for event in sorted(consumed & set(cache.invalidated_by)):
            if not cache.routes:
                found.append(Invalidation(event, cache.name, service, (), True))
                continue
            for fact in cache_invalidations(data):
                if fact.cache == cache.name and fact.event == event and not fact.missing:
                    found.append(Invalidation(event, cache.name, fact.service, fact.keys, False))
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True, order=True)
class NetworkEdge:
    """A connection the feature needs: from a service (or 'gateway') to a service or datastore, on a TCP port."""

    source: str
    target: str
    port: int


def network_edges(
    services: tuple[Service, ...], datastores: tuple[Datastore, ...], gateway: Gateway | None
) -> tuple[NetworkEdge, ...]:
    """The connections of the communication matrix, and nothing else: what network policies must allow."""
    ports = {s.name: s.port for s in services}
    kinds = {d.name: d.kind for d in datastores if d.kind in DATASTORE_PORTS}
    edges = {NetworkEdge("gateway", r.service, ports[r.service]) for r in (gateway.routes if gateway else ())}
    for service in services:
        edges |= {
            NetworkEdge(service.name, c.target, ports[c.target]) for c in service.calls if c.target != service.name
        }
        edges |= {NetworkEdge(service.name, d, DATASTORE_PORTS[kinds[d]]) for d in service.uses if d in kinds}
    return tuple(sorted(edges))


def kubernetes_tracks(strategy: str | None) -> tuple[str, ...]:
    """The Deployments each service runs as, from deployment.strategy ('' for the one Deployment of a rolling update).

    blue-green: blue serves and green waits at 0 replicas for the next version; canary: stable and canary pods behind
    one Service, so the canary takes its share of the traffic.
    """
    return {"blue-green": ("blue", "green"), "canary": ("stable", "canary")}.get(strategy or "", ("",))


def compensations(service: str, flows: tuple[Flow, ...]) -> tuple[tuple[str, str], ...]:
    """(consumed event, compensation event) for every flow step the service performs on an event, sorted."""
    found = {
        (step.on, step.compensation_event)
        for flow in flows
        for step in flow.steps
        if step.by == service and step.on and step.compensation_event
    }
    return tuple(sorted((on, target) for on, target in found if on is not None and target is not None))
