"""A feature's RabbitMQ topology built from its model: one source for definitions.json and for start-up declares.

The types, and the names of each queue's retry and dead-letter chain, are the runtime's
(planforge_runtime.topology, whose docstring explains the chain); this module builds them from the manifest.
"""

from __future__ import annotations

from typing import Any

from planforge_runtime.topology import (
    VHOST,
    BindingSpec,
    ExchangeSpec,
    QueueSpec,
    Topology,
    dead_letter_exchange,
    dead_letter_queue,
    first_retry_exchange,
    requeue_exchange,
    retry_exchange,
    retry_queue,
    stage_key,
)

from planforge.model import Model, Queue, Retry, Service

__all__ = [
    "VHOST",
    "BindingSpec",
    "ExchangeSpec",
    "QueueSpec",
    "Topology",
    "dead_letter_exchange",
    "dead_letter_queue",
    "first_retry_exchange",
    "queue_topology",
    "requeue_exchange",
    "retry_delays_ms",
    "retry_exchange",
    "retry_queue",
    "service_topology",
    "stage_key",
    "topology",
]


def retry_delays_ms(retry: Retry) -> tuple[int, ...]:
    """One delay per retry, in milliseconds; when backoff lists fewer delays than retries, the last repeats."""
    if not retry.delays:
        return ()
    return tuple(round(retry.delays[min(n, len(retry.delays)) - 1] * 1000) for n in range(1, retry.max_retries + 1))


def topology(model: Model) -> Topology:
    """The feature's whole topology: its exchanges, and each queue with its bindings and retry chain."""
    delays = retry_delays_ms(model.retry)
    parts = [_manifest_exchanges(model)]
    parts += [queue_topology(queue, delays, model.retry.dead_letter) for queue in model.queues]
    return _merged(parts)


def service_topology(model: Model, service: Service) -> Topology:
    """What one service declares at start-up: the queues it consumes from, and the queues its events are
    delivered to (so nothing it publishes is unroutable before its consumers first start), each with its
    bindings, the exchanges they bind to, retry chain and dead letter path; and the exchanges it publishes to."""
    delays = retry_delays_ms(model.retry)
    queues = {c.queue for c in service.consumes}
    queues |= {d.queue for name in service.publishes for d in model.event(name).deliveries}
    own_queues = [q for q in model.queues if q.name in queues]
    exchanges = {model.event(e).exchange for e in service.publishes}
    exchanges |= {b.exchange for q in own_queues for b in q.bindings}
    parts = [
        Topology(
            exchanges=[_exchange(e.name, e.type, e.durable) for e in model.exchanges if e.name in exchanges],
            queues=[],
            bindings=[],
        )
    ]
    parts += [queue_topology(queue, delays, model.retry.dead_letter) for queue in own_queues]
    return _merged(parts)


def queue_topology(queue: Queue, delays_ms: tuple[int, ...], dead_letter: bool) -> Topology:
    """One queue, its bindings to the manifest's exchanges, and its retry chain and dead letter path."""
    kind = {"x-queue-type": queue.type}
    arguments: dict[str, Any] = kind | {"x-dead-letter-exchange": retry_exchange(queue.name)}
    if not delays_ms:
        arguments = kind | {"x-dead-letter-exchange": dead_letter_exchange(queue.name)}
    if queue.max_length is not None:
        arguments |= {"x-max-length": queue.max_length, "x-overflow": "reject-publish"}
    own = Topology(
        exchanges=[],
        queues=[QueueSpec(name=queue.name, durable=queue.durable, arguments=arguments)],
        bindings=[_binding(b.exchange, queue.name, b.routing_key) for b in queue.bindings],
    )
    parts = [own, _dead_letter_path(queue.name, queue.durable, dead_letter, kind)]
    if delays_ms:
        parts.append(_retry_chain(queue.name, queue.durable, delays_ms, kind))
    return _merged(parts)


def _manifest_exchanges(model: Model) -> Topology:
    exchanges = [_exchange(e.name, e.type, e.durable) for e in model.exchanges]
    return Topology(exchanges=exchanges, queues=[], bindings=[])


def _retry_chain(queue: str, durable: bool, delays_ms: tuple[int, ...], kind: dict[str, str]) -> Topology:
    """Retry queues for each delay, the exchanges that lead into them, and the way back to the queue."""
    last = len(delays_ms)
    stages = [retry_queue(queue, n) for n in range(2, last + 1)] + [dead_letter_exchange(queue)]
    retry_queues = [
        QueueSpec(
            name=retry_queue(queue, n),
            durable=durable,
            arguments=kind
            | {
                "x-message-ttl": delay,
                "x-dead-letter-exchange": requeue_exchange(queue),
                "x-dead-letter-routing-key": stage_key(stages[n - 1]),
            },
        )
        for n, delay in enumerate(delays_ms, start=1)
    ]
    bindings = [
        _binding(first_retry_exchange(queue), retry_queue(queue, 1)),
        _binding(requeue_exchange(queue), queue),
        *(_binding(retry_exchange(queue), stage, stage_key(stage)) for stage in stages[:-1]),
        _binding(retry_exchange(queue), stages[-1], stage_key(stages[-1]), "exchange"),
    ]
    exchanges = [
        _exchange(retry_exchange(queue), "direct", durable, internal=True, alternate=first_retry_exchange(queue)),
        _exchange(first_retry_exchange(queue), "fanout", durable, internal=True),
        _exchange(requeue_exchange(queue), "fanout", durable, internal=True),
    ]
    return Topology(exchanges=exchanges, queues=retry_queues, bindings=bindings)


def _dead_letter_path(queue: str, durable: bool, dead_letter: bool, kind: dict[str, str]) -> Topology:
    """The dead letter exchange, and the dead letter queue behind it when failures are kept."""
    exchanges = [_exchange(dead_letter_exchange(queue), "fanout", durable)]
    if not dead_letter:
        return Topology(exchanges=exchanges, queues=[], bindings=[])
    dlq = QueueSpec(name=dead_letter_queue(queue), durable=durable, arguments=dict(kind))
    return Topology(exchanges=exchanges, queues=[dlq], bindings=[_binding(dead_letter_exchange(queue), dlq["name"])])


def _exchange(name: str, kind: str, durable: bool, *, internal: bool = False, alternate: str = "") -> ExchangeSpec:
    arguments = {"alternate-exchange": alternate} if alternate else {}
    return ExchangeSpec(name=name, type=kind, durable=durable, internal=internal, arguments=arguments)


def _binding(source: str, destination: str, routing_key: str = "", kind: str = "queue") -> BindingSpec:
    return BindingSpec(source=source, destination=destination, destination_type=kind, routing_key=routing_key)


def _merged(parts: list[Topology]) -> Topology:
    """Parts joined into one topology, each list sorted (bindings deduplicated) so manifest order does not matter."""
    return Topology(
        exchanges=sorted((e for p in parts for e in p["exchanges"]), key=lambda e: e["name"]),
        queues=sorted((q for p in parts for q in p["queues"]), key=lambda q: q["name"]),
        bindings=[b for _, b in sorted({_binding_key(b): b for p in parts for b in p["bindings"]}.items())],
    )


def _binding_key(binding: BindingSpec) -> tuple[str, str, str, str]:
    """What makes a binding distinct on the broker (a repeated binding is one binding)."""
    return binding["source"], binding["destination_type"], binding["destination"], binding["routing_key"]
