"""PF705-PF707: each route's parameters, responses and body make sense for HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.paths import path_parameters
from planforge.rules.manifest import Manifest

__all__ = ["check"]

_BODYLESS = ("GET", "DELETE")


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Parameters agree with the path, a 2xx response exists, GET and DELETE take no body."""
    for service, index, route in m.service_routes():
        path: JsonPath = ("services", service, "routes", index)
        yield from _parameters(m, path, route)
        if not any(200 <= int(status) < 300 for status in route["responses"]):
            yield m.error(
                "PF706",
                (*path, "responses"),
                f"route {service}.{route['id']} declares no 2xx response",
                "add the success response, e.g. '200: UserProfile' or '204: null'",
                key=True,
            )
        if route["method"] in _BODYLESS and "request" in route:
            yield m.error(
                "PF707",
                (*path, "request"),
                f"{route['method']} route {service}.{route['id']} has a request body",
                "send the data as path or query parameters, or use POST, PUT or PATCH",
                key=True,
            )


def _parameters(m: Manifest, path: JsonPath, route: dict[str, Any]) -> Iterator[Diagnostic]:
    in_path = path_parameters(route["path"])
    declared: dict[str, Any] = route.get("parameters", {})
    for name, count in Counter(in_path).items():
        if count > 1:
            yield m.error(
                "PF705",
                (*path, "path"),
                f"path '{route['path']}' uses parameter '{name}' {count} times",
                "give each path parameter its own name",
            )
    for name in dict.fromkeys(in_path):
        if declared.get(name, {}).get("in") == "query":
            yield m.error(
                "PF705",
                (*path, "parameters", name, "in"),
                f"parameter '{name}' is in the path '{route['path']}' but declared in: query",
                "write in: path, or rename one of them",
            )
    for name, spec in declared.items():
        if spec["in"] == "path" and name not in in_path:
            yield m.error(
                "PF705",
                (*path, "parameters", name),
                f"path parameter '{name}' does not appear in path '{route['path']}'",
                f"add '{{{name}}}' to the path, or declare it in: query",
                key=True,
            )
