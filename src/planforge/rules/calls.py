"""PF503, PF505: a step's 'METHOD /path' call reaches a route, through the gateway for the client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic, did_you_mean
from planforge.loader import JsonPath
from planforge.paths import is_under, parse_call, template_matches
from planforge.rules.gateway import service_prefix
from planforge.rules.manifest import Manifest
from planforge.rules.references import ACTORS

__all__ = ["check_call"]


def check_call(m: Manifest, path: JsonPath, actor: str, call: str) -> Iterator[Diagnostic]:
    """Check the call of one step made by actor (client, gateway or a service)."""
    method, target = parse_call(call)
    where: JsonPath = (*path, "call")
    if actor in ACTORS:
        yield from _through_gateway(m, where, method, target)
    elif actor in m.services:
        yield from _between_services(m, where, actor, method, target)


def _serves(m: Manifest, service: str, method: str, target: str) -> bool:
    return any(r["method"] == method and template_matches(r["path"], target) for r in m.routes(service))


def _closest(m: Manifest, services: list[str], method: str, target: str) -> str:
    known = [f"{r['method']} {r['path']}" for s in services for r in m.routes(s)]
    return did_you_mean(f"{method} {target}", known)


def _through_gateway(m: Manifest, where: JsonPath, method: str, target: str) -> Iterator[Diagnostic]:
    if m.gateway is None:
        if not any(_serves(m, s, method, target) for s in m.services):
            yield m.error(
                "PF503", where, f"no service serves '{method} {target}'", _closest(m, list(m.services), method, target)
            )
        return
    route = next((r for r in m.gateway["routes"] if is_under(target, r["path"][:-2])), None)
    if route is None:
        prefixes = ", ".join(r["path"] for r in m.gateway["routes"])
        yield m.error("PF503", where, f"no gateway route matches '{target}'", f"gateway routes: {prefixes}")
        return
    if method not in route["methods"]:
        yield m.error(
            "PF503", where, f"gateway route '{route['path']}' does not allow {method}", f"add {method} to its methods"
        )
        return
    service = route["service"]
    if service_prefix(route) is None or service not in m.services:
        return
    inner = target[len(route.get("strip_prefix", "")) :]
    if not _serves(m, service, method, inner):
        yield m.error(
            "PF503",
            where,
            f"gateway route '{route['path']}' forwards '{method} {target}' to {service} as "
            f"'{method} {inner}', but {service} serves no such route",
            _closest(m, [service], method, inner) or f"add the route to services.{service}.routes",
        )


def _between_services(m: Manifest, where: JsonPath, caller: str, method: str, target: str) -> Iterator[Diagnostic]:
    servers = [s for s in m.services if s != caller and _serves(m, s, method, target)]
    if not servers:
        others = [s for s in m.services if s != caller]
        yield m.error(
            "PF503",
            where,
            f"no other service serves '{method} {target}' for {caller} to call",
            _closest(m, others, method, target),
        )
        return
    called = {c["service"] for c in m.services[caller].get("calls", [])}
    if not called.intersection(servers):
        route = _route_id(m, servers[0], method, target)
        yield m.warning(
            "PF505",
            where,
            f"{caller} calls {servers[0]} here, but its calls list does not include it",
            f"add {{service: {servers[0]}, route: {route}}} to services.{caller}.calls",
        )


def _route_id(m: Manifest, service: str, method: str, target: str) -> Any:
    return next(r["id"] for r in m.routes(service) if r["method"] == method and template_matches(r["path"], target))
