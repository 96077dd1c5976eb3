"""Facts that the rules and the model builder both derive from the manifest's data, each by one function.

The rules call these to say, at a location, why a manifest cannot be honoured; build calls the same
functions to put the fact in the model. So what is checked and what is generated never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from planforge.paths import template_matches

__all__ = [
    "DEFAULT_CORRELATION_HEADER",
    "CacheInvalidation",
    "cache_invalidations",
    "correlation_header",
    "etag_read_route",
    "path_parameters",
]

DEFAULT_CORRELATION_HEADER = "X-Correlation-ID"
_PATH_PARAMETER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")


def correlation_header(data: Mapping[str, Any]) -> str:
    """The header that carries the correlation ID: observability.tracing.correlation_header, or the default."""
    tracing = data.get("observability", {}).get("tracing", {})
    header = tracing.get("correlation_header") if isinstance(tracing, dict) else None
    return header if isinstance(header, str) and header else DEFAULT_CORRELATION_HEADER


def path_parameters(path: str) -> list[str]:
    """The {parameter} names of a route path, in order."""
    return _PATH_PARAMETER.findall(path)


def etag_read_route(routes: list[dict[str, Any]], index: int) -> int | None:
    """For an updating route with concurrency: etag, the GET route of the same path whose answer is the
    current version (its ETag is what If-Match must name); None when the service has none."""
    update = routes[index]
    for position, route in enumerate(routes):
        if route.get("method") == "GET" and template_matches(route["path"], update["path"]):
            return position
    return None


@dataclass(frozen=True, slots=True)
class CacheInvalidation:
    """An event invalidating the entries of a cached route: the fields of the event that make the entry's key
    (one per path parameter, in path order), and those path parameters the event has no required field for."""

    cache: str
    event: str
    service: str
    route: str
    route_index: int
    keys: tuple[str, ...]
    missing: tuple[str, ...]


def cache_invalidations(data: Mapping[str, Any]) -> Iterator[CacheInvalidation]:
    """For every cache, every event of its invalidated_by and every route reading through it: how the event
    identifies the route's entries (the entry key is the route's path parameters; the event must carry each
    as a required top-level field of the same name)."""
    events = data.get("events", {})
    for cache, spec in data.get("caching", {}).items():
        for event in spec.get("invalidated_by", []):
            schema = events.get(event, {}).get("data", {})
            required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
            properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
            for service, raw in data.get("services", {}).items():
                for index, route in enumerate(raw.get("routes", [])):
                    if route.get("cache") != cache:
                        continue
                    names = path_parameters(route["path"])
                    missing = tuple(n for n in names if n not in required or n not in properties)
                    yield CacheInvalidation(cache, event, service, route["id"], index, tuple(names), missing)
