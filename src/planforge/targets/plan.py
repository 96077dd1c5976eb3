"""The integration plan: the seed document, every section filled from the model."""

from __future__ import annotations

from typing import Any

from planforge.derive import KUBERNETES_VERSION, kubernetes_tracks, network_edges
from planforge.model import Event, Model
from planforge.targets import Output
from planforge.templating import render_template, to_json

__all__ = ["render"]

_FORMAT_NAMES = {"uuid": "uuid", "date-time": "ISO-8601", "date": "ISO-8601 date", "email": "email"}
_SCENARIO_TITLES = {
    "happy-path": "Happy path",
    "service-failure": "Service failure",
    "network-partition": "Network partition",
    "data-consistency": "Data consistency",
    "performance": "Performance",
}


def render(model: Model) -> Output:
    """INTEGRATION_PLAN.md for the feature."""
    text = render_template(
        "plan/INTEGRATION_PLAN.md.j2",
        model=model,
        p=model.policies.value,
        envelope=to_json(_envelope(model)),
        event_fields={e.name: _fields(e) for e in model.events},
        routes_yaml=_routes_yaml(model),
        gateway_files=_gateway_files(model),
        broker_yaml=_broker_yaml(model),
        scenario_titles=_SCENARIO_TITLES,
        actor_titles={"client": "Client", "gateway": "API Gateway"} | {s.name: s.title for s in model.services},
        rollback={
            "migrated": [
                s.name
                for s in model.services
                if any(d.kind == "postgres" and d.owner == s.name for d in model.datastores)
            ],
            "redis": [
                s.name for s in model.services if any(d.kind == "redis" and d.name in s.uses for d in model.datastores)
            ],
        },
        k8s={
            "version": KUBERNETES_VERSION,
            "edges": network_edges(model.services, model.datastores, model.gateway),
            "tracks": kubernetes_tracks(model.policies.value["deployment"]["strategy"]),
        },
        flow_services={
            f.name: [model.title_of(p) if p != "gateway" else "API Gateway" for p in f.participants]
            for f in model.flows
        },
    )
    return Output(owned={"INTEGRATION_PLAN.md": text})


def _envelope(model: Model) -> dict[str, Any]:
    """The seed's event envelope, shown with the first event of the first flow (or the first event)."""
    named = [e for f in model.flows for e in f.events]
    event = next((model.event(n) for n in named if any(e.name == n for e in model.events)), None)
    event = event or (model.events[0] if model.events else None)
    data = {name: kind for name, kind, _, _ in _fields(event)} if event else {}
    return {
        "eventId": "uuid",
        "eventType": event.name if event else "<event>",
        "timestamp": "ISO-8601",
        "correlationId": "uuid",
        "data": data,
    }


def _fields(event: Event | None) -> list[tuple[str, str, bool, bool]]:
    """(name, type, required, pii) for each property of an event's data schema."""
    if event is None:
        return []
    schema = event.data.value
    required = set(schema.get("required", []))
    result = []
    for name, spec in schema.get("properties", {}).items():
        spec = spec if isinstance(spec, dict) else {}
        kind = _FORMAT_NAMES.get(spec.get("format", ""), spec.get("type", spec.get("$ref", "any")))
        result.append((name, str(kind), name in required, name in event.pii))
    return result


def _routes_yaml(model: Model) -> str:
    if model.gateway is None:
        return ""
    lines = ["routes:"]
    for route in model.gateway.routes:
        lines += [
            f"  - path: {route.prefix}/*",
            f"    service: {route.service}",
            f"    methods: [{', '.join(route.methods)}]",
        ]
        if route.strip_prefix:
            lines.append(f"    strip_prefix: {route.strip_prefix}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _gateway_files(model: Model) -> dict[str, str]:
    """The generated gateway configuration, shown in the plan exactly as it is written."""
    if model.gateway is None:
        return {}
    from planforge.targets import gateway

    return {path: text for path, text in gateway.render(model).owned.items() if path.endswith(".conf")}


def _broker_yaml(model: Model) -> str:
    lines = ["exchanges:"]
    for exchange in model.exchanges:
        lines += [
            f"  - name: {exchange.name}",
            f"    type: {exchange.type}",
            f"    durable: {str(exchange.durable).lower()}",
            "",
        ]
    lines.append("queues:")
    for queue in model.queues:
        lines += [f"  - name: {queue.name}", "    bindings:"]
        for binding in queue.bindings:
            lines += [f"      - exchange: {binding.exchange}", f"        routing_key: '{binding.routing_key}'"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
