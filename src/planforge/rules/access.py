"""PF714-PF715: a route's `access` can be checked: it needs a token, and its owner is a path parameter."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.paths import path_parameters
from planforge.rules.manifest import Manifest

__all__ = ["check"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Access only on routes that need a token; access.owner names one of the route's path parameters."""
    for service, index, route in m.service_routes():
        access = route.get("access")
        if access is None:
            continue
        path = ("services", service, "routes", index, "access")
        if route.get("public"):
            yield m.error(
                "PF714",
                path,
                f"route {service}.{route['id']} is public, so there is no token to check its access against",
                "remove public: true, or remove access",
                key=True,
            )
        owner = access.get("owner")
        if owner is not None and owner not in path_parameters(route["path"]):
            found = ", ".join(path_parameters(route["path"])) or "none"
            yield m.error(
                "PF715",
                (*path, "owner"),
                f"access.owner '{owner}' of {service}.{route['id']} is not a path parameter of {route['path']}",
                f"name the path parameter that holds the caller's id (path parameters: {found})",
            )
