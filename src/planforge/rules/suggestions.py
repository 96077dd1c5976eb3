"""Hints for PF203 and PF204 that say what would deliver the event, not merely the nearest name."""

from __future__ import annotations

from difflib import get_close_matches

from planforge.amqp import binding_matches
from planforge.diagnostics import did_you_mean
from planforge.loader import JsonPath
from planforge.rules.manifest import Manifest

__all__ = ["exchange_hint", "queue_hint"]


def queue_hint(m: Manifest, path: JsonPath, queue: str) -> str:
    """For services.S.consumes[i].queue naming an undeclared queue: the declaration that delivers the event."""
    service, index = str(path[1]), int(path[3])
    event = m.services[service]["consumes"][index]["event"]
    if event not in m.events:
        return did_you_mean(queue, m.queues)
    delivering = sorted(q for q in m.queues if _delivers(m, event, q))
    near = get_close_matches(queue, delivering, n=1, cutoff=0.6)
    if near:
        return f"did you mean '{near[0]}'? It delivers '{event}'"
    exchange = m.events[event]["exchange"]
    declare = (
        f"declare it under broker.queues with the binding that delivers '{event}': "
        f"{queue}: {{bindings: [{{exchange: {exchange}, routing_key: {m.routing_key(event)}}}]}}"
    )
    misleading = get_close_matches(queue, sorted(m.queues), n=1, cutoff=0.6)
    if misleading:
        declare += f"; '{misleading[0]}' is a similar name but does not deliver it"
    elif delivering:
        declare += f", or consume from '{delivering[0]}', which delivers it"
    return declare


def exchange_hint(m: Manifest, path: JsonPath, exchange: str) -> str:
    """For an unknown exchange of an event or of a binding: the declared exchange that would deliver the
    event(s) to their consumers' queues, else the declaration to add."""
    declare = f"declare it under broker.exchanges: {exchange}: {{type: topic}}"
    if path[0] == "events":
        event = str(path[1])
        fits = sorted(x for x in m.exchanges if _reaches_consumers(m, event, x))
        if fits:
            return f"'{fits[0]}' delivers '{event}' to its consumers' queues; or {declare}"
        return did_you_mean(exchange, m.exchanges) or declare
    queue = str(path[2])
    wanted = sorted({m.events[e]["exchange"] for e in _consumed_from(m, queue) if e in m.events} & set(m.exchanges))
    if wanted:
        return f"the events consumed from '{queue}' are published on {', '.join(repr(w) for w in wanted)}"
    return did_you_mean(exchange, m.exchanges) or declare


def _consumed_from(m: Manifest, queue: str) -> list[str]:
    return [c["event"] for spec in m.services.values() for c in spec.get("consumes", []) if c["queue"] == queue]


def _delivers(m: Manifest, event: str, queue: str) -> bool:
    exchange = m.events[event]["exchange"]
    return exchange in m.exchanges and _binds(m, event, exchange, queue)


def _binds(m: Manifest, event: str, exchange: str, queue: str) -> bool:
    kind, key = m.exchange_type(exchange), m.routing_key(event)
    return any(
        b["exchange"] == exchange and binding_matches(kind, b["routing_key"], key) for b in m.queues[queue]["bindings"]
    )


def _reaches_consumers(m: Manifest, event: str, exchange: str) -> bool:
    """Whether the event, published on exchange, would reach every queue it is consumed from (at least one)."""
    queues = {
        c["queue"] for spec in m.services.values() for c in spec.get("consumes", []) if c["event"] == event
    } & set(m.queues)
    return bool(queues) and all(_binds(m, event, exchange, q) for q in queues)
