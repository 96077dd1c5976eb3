"""PF605-PF606: every event a cache is invalidated by can reach a service that drops the entries it names."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.facts import cache_invalidations
from planforge.rules.manifest import Manifest

__all__ = ["check"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """invalidated_by events identify the cached entries, and some service with redis consumes them."""
    yield from _unidentified(m)
    yield from _unreceived(m)


def _unidentified(m: Manifest) -> Iterator[Diagnostic]:
    reported: set[tuple[str, str]] = set()
    for fact in cache_invalidations(m.data):
        if not fact.missing or fact.event not in m.events or (fact.cache, fact.event) in reported:
            continue
        reported.add((fact.cache, fact.event))
        index = m.data["caching"][fact.cache]["invalidated_by"].index(fact.event)
        fields = ", ".join(fact.missing)
        yield m.error(
            "PF605",
            ("caching", fact.cache, "invalidated_by", index),
            f"event '{fact.event}' cannot say which entry of cache '{fact.cache}' to drop: route "
            f"{fact.service}.{fact.route} keys its entries by {fields}, and the event's data has no required "
            f"field of that name",
            f"add {fields} (required) to events.{fact.event}.data, or remove '{fact.event}' from invalidated_by",
        )


def _unreceived(m: Manifest) -> Iterator[Diagnostic]:
    redis = {name for name, store in m.datastores.items() if store.get("kind") == "redis"}
    for cache, spec in m.data.get("caching", {}).items():
        for index, event in enumerate(spec.get("invalidated_by", [])):
            if event not in m.events:
                continue
            owners = sorted(
                name for name, s in m.services.items() if any(r.get("cache") == cache for r in s.get("routes", []))
            )
            receivers = [
                name
                for name, service in m.services.items()
                if redis & set(service.get("uses", []))
                and (
                    any(c.get("event") == event for c in service.get("consumes", []))
                    or (name in owners and event in service.get("publishes", []))
                )
            ]
            if receivers:
                continue
            who = owners[0] if owners else "a service that uses a redis datastore"
            yield m.error(
                "PF606",
                ("caching", cache, "invalidated_by", index),
                f"no service that uses redis consumes '{event}' (nor does a service whose routes read through "
                f"cache '{cache}' publish it), so nothing drops the cache's entries when it happens",
                f"let {who} consume '{event}' (from a queue bound to its exchange), or remove it from invalidated_by",
            )
