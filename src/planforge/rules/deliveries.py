"""PF308-PF310: each queue has one consuming service, it consumes every event the queue receives, and a service
consumes an event from one queue only."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.amqp import binding_matches
from planforge.diagnostics import Diagnostic
from planforge.rules.manifest import Manifest

__all__ = ["check", "consumers_by_queue"]


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Queues shared by two services; events a queue receives that nobody consumes from it."""
    yield from _shared_queues(m)
    yield from _unconsumed_deliveries(m)
    yield from _consumed_twice(m)


def _consumed_twice(m: Manifest) -> Iterator[Diagnostic]:
    """A service records each event it has processed once (its idempotency key is the event's id), and names its
    handler after the event: a second consumption of the same event would never run."""
    for name, spec in m.services.items():
        first: dict[str, str] = {}
        for index, consumption in enumerate(spec.get("consumes", [])):
            event, queue = consumption["event"], consumption["queue"]
            if event not in first:
                first[event] = queue
                continue
            yield m.error(
                "PF310",
                ("services", name, "consumes", index),
                f"{name} consumes '{event}' from queue '{queue}' and from queue '{first[event]}' too: a service "
                "processes each event once, so the second delivery would be skipped as a duplicate",
                f"consume '{event}' once (from '{first[event]}') and do both things in its handler",
            )


def consumers_by_queue(m: Manifest) -> dict[str, list[tuple[str, int, str]]]:
    """For each queue named in a consumes entry: (service, index, event) of each entry, in manifest order."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    for name, spec in m.services.items():
        for index, consumption in enumerate(spec.get("consumes", [])):
            found.setdefault(consumption["queue"], []).append((name, index, consumption["event"]))
    return found


def _shared_queues(m: Manifest) -> Iterator[Diagnostic]:
    for queue, entries in consumers_by_queue(m).items():
        first = entries[0][0]
        reported: set[str] = set()
        for service, index, _ in entries:
            if service == first or service in reported:
                continue
            reported.add(service)
            yield m.error(
                "PF308",
                ("services", service, "consumes", index, "queue"),
                f"{service} consumes from queue '{queue}', which {first} consumes from too: RabbitMQ would hand "
                "each message to one of them, and each would dead-letter the other's events",
                f"give {service} a queue of its own, such as '{service}-queue', with the bindings it needs",
            )


def _unconsumed_deliveries(m: Manifest) -> Iterator[Diagnostic]:
    consumed = consumers_by_queue(m)
    for queue, spec in m.queues.items():
        entries = consumed.get(queue)
        if not entries:
            continue  # PF306: nobody reads the queue at all
        services = sorted({service for service, _, _ in entries})
        events = {event for _, _, event in entries}
        for index, binding in enumerate(spec["bindings"]):
            for event in _delivered_by(m, binding):
                if event not in events:
                    yield _unconsumed(m, queue, index, binding, event, services)


def _delivered_by(m: Manifest, binding: dict[str, str]) -> list[str]:
    """Published events the binding routes to its queue."""
    exchange = binding["exchange"]
    if exchange not in m.exchanges:
        return []
    kind = m.exchange_type(exchange)
    return [
        event
        for event, spec in m.events.items()
        if spec["exchange"] == exchange
        and m.publishers(event)
        and binding_matches(kind, binding["routing_key"], m.routing_key(event))
    ]


def _unconsumed(
    m: Manifest, queue: str, index: int, binding: dict[str, str], event: str, services: list[str]
) -> Diagnostic:
    exchange, pattern = binding["exchange"], binding["routing_key"]
    kind = m.exchange_type(exchange)
    how = f"to fanout exchange '{exchange}'" if kind == "fanout" else f"'{pattern}' on exchange '{exchange}'"
    if kind == "fanout":
        narrow = "or publish it on another exchange: a fanout exchange delivers every event"
    else:
        narrow = "or narrow the binding to the routing keys it consumes"
    return m.warning(
        "PF309",
        ("broker", "queues", queue, "bindings", index),
        f"event '{event}' reaches queue '{queue}' through binding {how}, but {', '.join(services)} does not "
        f"consume it from there: it would be dead-lettered as unknown",
        f"add {{event: {event}, queue: {queue}}} to the consumes of {services[0]}, {narrow}",
    )
