"""PF301-PF307, PF320: events reach the queues their consumers read, and the broker carries them."""

from __future__ import annotations

from collections.abc import Iterator

from planforge.amqp import binding_matches
from planforge.diagnostics import Diagnostic
from planforge.rules.manifest import Manifest

__all__ = ["check", "delivers"]

_WILDCARDS = ("*", "#")


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Unrouted consumers, undelivered and unpublished events, wildcard keys, idle queues, a missing broker."""
    yield from _unrouted(m)
    yield from _undelivered(m)
    yield from _unpublished(m)
    yield from _wildcards(m)
    yield from _idle_queues(m)
    yield from _missing_broker(m)
    yield from _volatile_quorum(m)


def _volatile_quorum(m: Manifest) -> Iterator[Diagnostic]:
    """RabbitMQ refuses a quorum queue that is not durable: say so before a service fails to declare it."""
    for name, spec in m.queues.items():
        if spec.get("type") == "quorum" and spec.get("durable") is False:
            yield m.error(
                "PF320",
                ("broker", "queues", name, "type"),
                f"queue '{name}' is a quorum queue but not durable; RabbitMQ only has durable quorum queues",
                "remove 'durable: false', or make it 'type: classic'",
            )


def delivers(m: Manifest, event: str, queue: str) -> bool:
    """Whether some binding of the queue routes the event (its exchange and routing key) to it."""
    exchange = m.events[event]["exchange"]
    kind, key = m.exchange_type(exchange), m.routing_key(event)
    return any(
        b["exchange"] == exchange and binding_matches(kind, b["routing_key"], key) for b in m.queues[queue]["bindings"]
    )


def _unrouted(m: Manifest) -> Iterator[Diagnostic]:
    for name, spec in m.services.items():
        for index, consumption in enumerate(spec.get("consumes", [])):
            event, queue = consumption["event"], consumption["queue"]
            if event not in m.events or queue not in m.queues or m.events[event]["exchange"] not in m.exchanges:
                continue
            if not delivers(m, event, queue):
                exchange, key = m.events[event]["exchange"], m.routing_key(event)
                yield m.error(
                    "PF301",
                    ("services", name, "consumes", index, "queue"),
                    f"{name} consumes '{event}' from queue '{queue}', but no binding of that queue matches "
                    f"exchange '{exchange}' with routing key '{key}'",
                    f"add the binding {{exchange: {exchange}, routing_key: {key}}} to broker.queues.{queue}.bindings",
                )


def _undelivered(m: Manifest) -> Iterator[Diagnostic]:
    for event, spec in m.events.items():
        if spec["exchange"] not in m.exchanges or not m.publishers(event):
            continue
        if not any(delivers(m, event, queue) for queue in m.queues):
            key = m.routing_key(event)
            yield m.warning(
                "PF302",
                ("events", event),
                f"event '{event}' is published but reaches no queue: nothing binds exchange '{spec['exchange']}' "
                f"with a pattern matching '{key}'",
                "bind the queue of its consumer, or stop publishing it",
                key=True,
            )


def _unpublished(m: Manifest) -> Iterator[Diagnostic]:
    for event in m.events:
        if m.publishers(event):
            continue
        consumers = m.consumers(event)
        if consumers:
            yield m.warning(
                "PF303",
                ("events", event),
                f"event '{event}' is consumed by {', '.join(consumers)} but published by no service",
                "add it to the publishes list of the service that emits it",
                key=True,
            )
        else:
            yield m.warning(
                "PF304",
                ("events", event),
                f"event '{event}' is declared but no service publishes or consumes it",
                "list it in a service's publishes and consumes, or remove it",
                key=True,
            )


def _wildcards(m: Manifest) -> Iterator[Diagnostic]:
    for event, spec in m.events.items():
        key = spec.get("routing_key", "")
        if any(w in key.split(".") for w in _WILDCARDS):
            yield m.error(
                "PF305",
                ("events", event, "routing_key"),
                f"event '{event}' has routing key '{key}' with a wildcard; events are published with a concrete key",
                f"wildcards '*' and '#' belong in queue bindings; omit routing_key to use '{event}'",
            )
    for queue, spec in m.queues.items():
        for index, binding in enumerate(spec["bindings"]):
            exchange, pattern = binding["exchange"], binding["routing_key"]
            if (
                exchange in m.exchanges
                and m.exchange_type(exchange) == "direct"
                and any(w in pattern.split(".") for w in _WILDCARDS)
            ):
                yield m.error(
                    "PF305",
                    ("broker", "queues", queue, "bindings", index, "routing_key"),
                    f"queue '{queue}' binds direct exchange '{exchange}' with wildcard pattern '{pattern}'; "
                    "direct exchanges match routing keys exactly",
                    "use a concrete routing key, or make the exchange a topic exchange",
                )


def _idle_queues(m: Manifest) -> Iterator[Diagnostic]:
    consumed = {c["queue"] for spec in m.services.values() for c in spec.get("consumes", [])}
    for queue in m.queues:
        if queue not in consumed:
            yield m.warning(
                "PF306",
                ("broker", "queues", queue),
                f"no service consumes from queue '{queue}'",
                "add a consumes entry naming it, or remove the queue",
                key=True,
            )


def _missing_broker(m: Manifest) -> Iterator[Diagnostic]:
    brokers = m.kinds("rabbitmq")
    if not brokers:
        if m.events:
            yield m.error(
                "PF307",
                ("events",),
                "the feature declares events but no datastore of kind rabbitmq",
                "add e.g. 'message-queue: {kind: rabbitmq}' under datastores",
                key=True,
            )
        return
    for name, spec in m.services.items():
        section = next((s for s in ("publishes", "consumes") if spec.get(s)), None)
        if section and not m.uses_kind(name, "rabbitmq"):
            yield m.error(
                "PF307",
                ("services", name, section),
                f"{name} {section} events but uses no rabbitmq datastore",
                f"add '{brokers[0]}' to services.{name}.uses",
                key=True,
            )
