"""PF201-PF209: every name the manifest uses must be declared (services, datastores, exchanges, queues, ...)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from planforge.diagnostics import Diagnostic, did_you_mean
from planforge.loader import JsonPath
from planforge.rules.jsonschemas import bad_refs
from planforge.rules.manifest import Manifest, describe
from planforge.rules.suggestions import exchange_hint, queue_hint

__all__ = ["check", "unknown"]

ACTORS = ("client", "gateway")

Refs = Iterator[tuple[JsonPath, str]]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Unknown services, datastores, exchanges, queues, events, schemas, caches, routes and flows."""
    for code, kind, refs, known in _REFERENCES:
        names = known(m)
        for path, name in refs(m):
            if name not in names:
                hint = _HINTS[code](m, path, name) if code in _HINTS else ""
                yield unknown(m, code, kind, path, name, names, hint)
    yield from _unknown_refs(m)
    yield from _unknown_routes(m)
    yield from _unknown_flows(m)


def unknown(
    m: Manifest, code: str, kind: str, path: JsonPath, name: str, known: Collection[str], hint: str = ""
) -> Diagnostic:
    """'<where> names unknown <kind> <name>', with the given hint or the closest known name."""
    shown = sorted(known)
    hint = (
        hint
        or did_you_mean(name, shown)
        or (f"known {kind}s: {', '.join(shown[:8])}" if shown else f"no {kind}s are declared")
    )
    return m.error(code, path, f"{describe(path)} names unknown {kind} '{name}'", hint)


def _service_refs(m: Manifest) -> Refs:
    for name, store in m.datastores.items():
        if "owner" in store:
            yield ("datastores", name, "owner"), store["owner"]
    for name, spec in m.services.items():
        for index, call in enumerate(spec.get("calls", [])):
            yield ("services", name, "calls", index, "service"), call["service"]
    yield from _gateway_service_refs(m)
    yield from _testing_service_refs(m)


def _testing_service_refs(m: Manifest) -> Refs:
    for flow_index, flow in enumerate(m.flows):
        for index, step in enumerate(flow.get("steps", [])):
            if step["by"] not in ACTORS:
                yield ("flows", flow_index, "steps", index, "by"), step["by"]
    for index, scenario in enumerate(m.data.get("testing", {}).get("scenarios", [])):
        if "service" in scenario:
            yield ("testing", "scenarios", index, "service"), scenario["service"]
    for role, ref in _auth_refs(m):
        yield ("testing", "auth", role, "service"), ref["service"]


def _auth_refs(m: Manifest) -> Iterator[tuple[str, dict[str, str]]]:
    """The routes of testing.auth, as (token or subject, {service, route, field})."""
    auth = m.data.get("testing", {}).get("auth", {})
    for role in ("token", "subject"):
        if role in auth:
            yield role, auth[role]


def _gateway_service_refs(m: Manifest) -> Refs:
    gateway = m.gateway or {}
    for index, route in enumerate(gateway.get("routes", [])):
        yield ("gateway", "routes", index, "service"), route["service"]
    jwt = gateway.get("authentication", {}).get("jwt")
    if jwt:
        yield ("gateway", "authentication", "jwt", "issuer"), jwt["issuer"]


def _datastore_refs(m: Manifest) -> Refs:
    for name, spec in m.services.items():
        for index, store in enumerate(spec.get("uses", [])):
            yield ("services", name, "uses", index), store


def _exchange_refs(m: Manifest) -> Refs:
    for name, event in m.events.items():
        yield ("events", name, "exchange"), event["exchange"]
    for name, queue in m.queues.items():
        for index, binding in enumerate(queue["bindings"]):
            yield ("broker", "queues", name, "bindings", index, "exchange"), binding["exchange"]


def _queue_refs(m: Manifest) -> Refs:
    for name, spec in m.services.items():
        for index, consumption in enumerate(spec.get("consumes", [])):
            yield ("services", name, "consumes", index, "queue"), consumption["queue"]


def _event_refs(m: Manifest) -> Refs:
    for name, spec in m.services.items():
        for index, event in enumerate(spec.get("publishes", [])):
            yield ("services", name, "publishes", index), event
        for index, consumption in enumerate(spec.get("consumes", [])):
            yield ("services", name, "consumes", index, "event"), consumption["event"]
    for flow_index, flow in enumerate(m.flows):
        for index, event in enumerate(flow.get("events", [])):
            yield ("flows", flow_index, "events", index), event
        for index, step in enumerate(flow.get("steps", [])):
            yield from _step_event_refs(("flows", flow_index, "steps", index), step)
    for name, cache in m.caches.items():
        for index, event in enumerate(cache.get("invalidated_by", [])):
            yield ("caching", name, "invalidated_by", index), event


def _step_event_refs(path: JsonPath, step: dict[str, object]) -> Refs:
    for key in ("on", "publishes"):
        if isinstance(step.get(key), str):
            yield (*path, key), str(step[key])
    compensation = step.get("compensation")
    if isinstance(compensation, dict):
        yield (*path, "compensation", "publishes"), str(compensation["publishes"])


def _schema_refs(m: Manifest) -> Refs:
    for service, index, route in m.service_routes():
        path: JsonPath = ("services", service, "routes", index)
        if "request" in route:
            yield (*path, "request"), route["request"]
        for status, schema in route["responses"].items():
            if schema is not None:
                yield (*path, "responses", status), schema


def _cache_refs(m: Manifest) -> Refs:
    for service, index, route in m.service_routes():
        if "cache" in route:
            yield ("services", service, "routes", index, "cache"), route["cache"]


_REFERENCES: tuple[tuple[str, str, Callable[[Manifest], Refs], Callable[[Manifest], Collection[str]]], ...] = (
    ("PF201", "service", _service_refs, lambda m: m.services),
    ("PF202", "datastore", _datastore_refs, lambda m: m.datastores),
    ("PF203", "exchange", _exchange_refs, lambda m: m.exchanges),
    ("PF204", "queue", _queue_refs, lambda m: m.queues),
    ("PF205", "event", _event_refs, lambda m: m.events),
    ("PF206", "schema", _schema_refs, lambda m: m.schema_names()),
    ("PF207", "cache", _cache_refs, lambda m: m.caches),
)


_HINTS: dict[str, Callable[[Manifest, JsonPath, str], str]] = {"PF203": exchange_hint, "PF204": queue_hint}


def _unknown_refs(m: Manifest) -> Iterator[Diagnostic]:
    names = m.schema_names()
    for path, ref in bad_refs(m):
        if not isinstance(ref, str):
            yield m.error(
                "PF206",
                path,
                f"{describe(path)} must be a schema name, not {type(ref).__name__}",
                "write '$ref: Name' with the name of a schema under 'schemas'",
            )
        elif ref.startswith(("#", "http:", "https:")) or "/" in ref:
            yield m.error(
                "PF206",
                path,
                f"{describe(path)} '{ref}' is not a schema name",
                "a $ref names a schema under 'schemas' by its bare name, e.g. '$ref: Address'",
            )
        else:
            yield unknown(m, "PF206", "schema", path, ref, names)


def _route_refs(m: Manifest) -> Iterator[tuple[JsonPath, str, str]]:
    """(path of the route key, service, operation id) of calls and of testing.auth."""
    for name, spec in m.services.items():
        for index, call in enumerate(spec.get("calls", [])):
            yield ("services", name, "calls", index, "route"), call["service"], call["route"]
    for role, ref in _auth_refs(m):
        yield ("testing", "auth", role, "route"), ref["service"], ref["route"]


def _unknown_routes(m: Manifest) -> Iterator[Diagnostic]:
    for path, target, route in _route_refs(m):
        if target not in m.services:
            continue
        ids = [r["id"] for r in m.routes(target)]
        if route not in ids:
            hint = did_you_mean(route, ids) or (
                f"routes of {target}: {', '.join(sorted(ids)[:8])}" if ids else f"{target} declares no routes"
            )
            yield m.error("PF208", path, f"{target} has no route with operation id '{route}'", hint)


def _unknown_flows(m: Manifest) -> Iterator[Diagnostic]:
    flows = [flow["name"] for flow in m.flows]
    for index, scenario in enumerate(m.data.get("testing", {}).get("scenarios", [])):
        if "flow" in scenario and scenario["flow"] not in flows:
            yield unknown(m, "PF209", "flow", ("testing", "scenarios", index, "flow"), scenario["flow"], flows)
