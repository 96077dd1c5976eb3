"""PF601-PF604: database per service, owners only where they mean something, caches backed by redis."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.rules.manifest import Manifest

__all__ = ["check"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Owners of postgres datastores use them, nobody else does, and cached routes have a redis."""
    yield from _owners(m)
    yield from _shared_databases(m)
    yield from _cached_routes(m)


def _owners(m: Manifest) -> Iterator[Diagnostic]:
    for name, store in m.datastores.items():
        owner = store.get("owner")
        if owner is None:
            continue
        if store["kind"] != "postgres":
            yield m.error(
                "PF603",
                ("datastores", name, "owner"),
                f"datastore '{name}' is {store['kind']}; only postgres datastores have an owner",
                "remove owner: shared caches and brokers are listed in each service's uses",
                key=True,
            )
        elif owner in m.services and name not in m.services[owner].get("uses", []):
            yield m.error(
                "PF601",
                ("datastores", name, "owner"),
                f"{owner} owns datastore '{name}' but does not list it in uses",
                f"add '{name}' to services.{owner}.uses",
            )


def _shared_databases(m: Manifest) -> Iterator[Diagnostic]:
    for service, spec in m.services.items():
        for index, name in enumerate(spec.get("uses", [])):
            store = m.datastores.get(name, {})
            owner = store.get("owner")
            if store.get("kind") == "postgres" and owner in m.services and owner != service:
                yield m.error(
                    "PF602",
                    ("services", service, "uses", index),
                    f"{service} uses datastore '{name}', which {owner} owns (database per service)",
                    f"get the data through a route of {owner} or through its events",
                )


def _cached_routes(m: Manifest) -> Iterator[Diagnostic]:
    for service, index, route in m.service_routes():
        if "cache" in route and not m.uses_kind(service, "redis"):
            redis = m.kinds("redis")
            hint = f"add '{redis[0]}' to services.{service}.uses" if redis else "declare a redis datastore and use it"
            yield m.error(
                "PF604",
                ("services", service, "routes", index, "cache"),
                f"route {service}.{route['id']} reads through cache '{route['cache']}', but {service} "
                "uses no redis datastore",
                hint,
            )
