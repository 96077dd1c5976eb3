"""PF401-PF405: every gateway route reaches routes of its service, and protected routes get a JWT check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.paths import is_under
from planforge.rules.manifest import Manifest

__all__ = ["check", "service_prefix"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Gateway routes: prefixes, strip_prefix, methods, duplicates and authentication."""
    if m.gateway is None:
        return
    seen: dict[str, int] = {}
    for index, route in enumerate(m.gateway["routes"]):
        path: JsonPath = ("gateway", "routes", index)
        if route["path"] in seen:
            yield m.error(
                "PF403",
                (*path, "path"),
                f"gateway route '{route['path']}' is already routed by gateway.routes[{seen[route['path']]}]",
                "merge the two routes, or give them different prefixes",
            )
        seen.setdefault(route["path"], index)
        yield from _route(m, path, route)
    yield from _authentication(m)


def service_prefix(route: dict[str, Any]) -> str | None:
    """The prefix as the service sees it, after strip_prefix; None when strip_prefix does not apply."""
    prefix, strip = str(route["path"])[:-2], str(route.get("strip_prefix", ""))
    if strip and not is_under(prefix, strip):
        return None
    return prefix[len(strip) :]


def _route(m: Manifest, path: JsonPath, route: dict[str, Any]) -> Iterator[Diagnostic]:
    inner = service_prefix(route)
    if inner is None:
        yield m.error(
            "PF402",
            (*path, "strip_prefix"),
            f"strip_prefix '{route['strip_prefix']}' is not a prefix of gateway path '{route['path']}'",
            "strip_prefix removes leading segments of the path, e.g. /api/v1 from /api/v1/users/*",
        )
        return
    service = route["service"]
    if service not in m.services:
        return
    served = [r for r in m.routes(service) if is_under(r["path"], inner)]
    if not served:
        shown = inner or "/"
        hint = _suggest_strip(route["path"][:-2], [r["path"] for r in m.routes(service)])
        yield m.error(
            "PF401",
            (*path, "path"),
            f"gateway route '{route['path']}' forwards to {service} under '{shown}', "
            f"but {service} has no route under '{shown}'",
            hint,
        )
        return
    for number, method in enumerate(route["methods"]):
        if not any(r["method"] == method for r in served):
            yield m.warning(
                "PF404",
                (*path, "methods", number),
                f"gateway route '{route['path']}' allows {method}, but no {method} route of {service} "
                f"is under '{inner or '/'}'",
                "remove the method, or add the route to the service",
            )


def _suggest_strip(prefix: str, paths: list[str]) -> str:
    """A strip_prefix that would make the gateway prefix reach some of the service's routes."""
    if not paths:
        return "the service declares no routes"
    segments = prefix.strip("/").split("/")
    for count in range(len(segments)):
        strip = "/" + "/".join(segments[:count]) if count else ""
        if any(is_under(p, prefix[len(strip) :]) for p in paths):
            return f"set strip_prefix: {strip}" if strip else "remove strip_prefix"
    return f"the service's routes are: {', '.join(sorted(set(paths))[:6])}"


def _authentication(m: Manifest) -> Iterator[Diagnostic]:
    assert m.gateway is not None
    if m.gateway.get("authentication", {}).get("jwt"):
        return
    protected = [f"{s}.{r['id']}" for s, _, r in m.service_routes() if not r.get("public", False)]
    if protected:
        more = f" and {len(protected) - 1} more need" if len(protected) > 1 else " needs"
        yield m.error(
            "PF405",
            ("gateway",),
            f"route {protected[0]}{more} a JWT, but the gateway has no authentication.jwt",
            "add gateway.authentication.jwt with algorithms and issuer, or mark the routes public: true",
            key=True,
        )
