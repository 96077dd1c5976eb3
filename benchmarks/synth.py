"""A synthetic manifest of any size: N routes over N/10 services, one event per service, all routed."""

from __future__ import annotations

import sys

import yaml

__all__ = ["synthetic_manifest"]


def synthetic_manifest(routes: int, per_service: int = 10) -> str:
    """YAML text of a valid manifest with `routes` routes."""
    count = max(1, routes // per_service)
    services: dict[str, object] = {}
    events: dict[str, object] = {}
    queues: dict[str, object] = {}
    for i in range(count):
        name = f"svc{i}-service"
        next_name = f"svc{(i + 1) % count}-service"
        services[name] = {
            "title": f"Service {i}",
            "layer": "core" if i % 2 == 0 else "support",
            "port": 9000 + i,
            "uses": [f"svc{i}-db", "queue"],
            "routes": [
                {
                    "id": f"op{j}",
                    "method": "POST" if j % 2 else "GET",
                    "path": f"/svc{i}/items{j}/{{itemId}}",
                    "public": j % 3 == 0,
                    "responses": {200: "Item", 404: "Problem"},
                    **({"request": "Item"} if j % 2 else {}),
                }
                for j in range(per_service)
            ],
            "publishes": [f"svc{i}.changed"],
            "consumes": [{"event": f"svc{(i - 1) % count}.changed", "queue": f"{name}-queue", "does": "syncs"}]
            if count > 1
            else [],
        }
        events[f"svc{i}.changed"] = {
            "exchange": "events",
            "data": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}}},
        }
        if count > 1:
            queues[f"{name}-queue"] = {"bindings": [{"exchange": "events", "routing_key": f"svc{(i - 1) % count}.*"}]}
        del next_name
    manifest = {
        "planforge": 1,
        "feature": {"name": f"Synthetic {routes}", "slug": f"synthetic-{routes}", "overview": "Benchmark input."},
        "datastores": {"queue": {"kind": "rabbitmq"}}
        | {f"svc{i}-db": {"kind": "postgres", "owner": f"svc{i}-service"} for i in range(count)},
        "services": services,
        "schemas": {"Item": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "events": events,
        "broker": {"exchanges": {"events": {"type": "topic"}}, "queues": queues},
        "gateway": {
            "routes": [
                {
                    "path": f"/api/svc{i}/*",
                    "service": f"svc{i}-service",
                    "methods": ["GET", "POST"],
                    "strip_prefix": "/api",
                }
                for i in range(count)
            ],
            "authentication": {"jwt": {"algorithms": ["RS256"], "issuer": "svc0-service"}},
        },
    }
    return yaml.safe_dump(manifest, sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(synthetic_manifest(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
