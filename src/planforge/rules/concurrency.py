"""PF720: a route with ``concurrency: etag`` that changes a resource has a GET route that shows its version."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.facts import etag_read_route
from planforge.rules.manifest import Manifest

__all__ = ["check"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """The runtime checks If-Match against the ETag of the answer of the GET route of the same path."""
    for service, spec in m.services.items():
        routes = spec.get("routes", [])
        for index, route in enumerate(routes):
            if route.get("concurrency") != "etag" or route["method"] == "GET":
                continue
            if etag_read_route(routes, index) is None:
                yield m.error(
                    "PF720",
                    ("services", service, "routes", index, "concurrency"),
                    f"route {service}.{route['id']} needs If-Match, but {service} has no GET route for "
                    f"{route['path']} whose answer is the version If-Match must name",
                    f"add a GET {route['path']} route to {service}, or remove concurrency: etag",
                )
