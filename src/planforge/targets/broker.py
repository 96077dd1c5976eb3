"""The broker target: ``broker/definitions.json``, the feature's topology in RabbitMQ's definitions format,
and ``broker/README.md``, which explains how each manifest queue became the queues and exchanges declared.

The topology itself (the manifest's exchanges, queues and bindings, and each queue's retry chain, dead letter
exchange and dead letter queue) is derived in :mod:`planforge.topology`, which services also declare from at
start-up; the design of the retry chain is described there. This module only lays it out for
``rabbitmqctl import_definitions``: every resource in the default vhost ``/``, no users, permissions or
policies (all behaviour is in declare arguments), and no version or timestamp, so the file is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planforge.escape import json_document
from planforge.model import Model, Queue
from planforge.targets import Output
from planforge.templating import render_template
from planforge.topology import (
    VHOST,
    BindingSpec,
    ExchangeSpec,
    QueueSpec,
    dead_letter_exchange,
    dead_letter_queue,
    first_retry_exchange,
    queue_topology,
    requeue_exchange,
    retry_delays_ms,
    retry_exchange,
    retry_queue,
    stage_key,
    topology,
)

__all__ = ["PATH", "README", "Chain", "chains", "definitions", "render"]

PATH = "broker/definitions.json"
README = "broker/README.md"


def render(model: Model) -> Output:
    """broker/definitions.json and broker/README.md for the feature."""
    text = json_document(definitions(model), sort_keys=True) + "\n"
    described = topology(model)
    readme = render_template(
        "broker/README.md.j2",
        model=model,
        chains=chains(model),
        declared={"queues": len(described["queues"]), "exchanges": len(described["exchanges"])},
        delays=[_seconds(ms) for ms in retry_delays_ms(model.retry)],
    )
    return Output(owned={PATH: text, README: readme})


@dataclass(frozen=True, slots=True)
class Stage:
    """One retry queue of a chain: its name, how long it holds a message, and where the message goes next."""

    queue: str
    delay: str
    next_key: str


@dataclass(frozen=True, slots=True)
class Chain:
    """What the topology declares for one manifest queue: its retry stages and dead letter path, by name."""

    queue: Queue
    retry_exchange: str
    first_retry_exchange: str
    requeue_exchange: str
    stages: tuple[Stage, ...]
    dead_letter_exchange: str
    dead_letter_queue: str | None
    declared_queues: int
    declared_exchanges: int


def chains(model: Model) -> list[Chain]:
    """Each manifest queue's chain, named by the same functions and counted from the same topology as
    definitions.json, so the explanation cannot drift from what is declared."""
    delays = retry_delays_ms(model.retry)
    result = []
    for queue in model.queues:
        own = queue_topology(queue, delays, model.retry.dead_letter)
        last = len(delays)
        after = [retry_queue(queue.name, n) for n in range(2, last + 1)] + [dead_letter_exchange(queue.name)]
        stages = tuple(
            Stage(retry_queue(queue.name, n), _seconds(ms), stage_key(after[n - 1]))
            for n, ms in enumerate(delays, start=1)
        )
        result.append(
            Chain(
                queue=queue,
                retry_exchange=retry_exchange(queue.name),
                first_retry_exchange=first_retry_exchange(queue.name),
                requeue_exchange=requeue_exchange(queue.name),
                stages=stages,
                dead_letter_exchange=dead_letter_exchange(queue.name),
                dead_letter_queue=dead_letter_queue(queue.name) if model.retry.dead_letter else None,
                declared_queues=len(own["queues"]),
                declared_exchanges=len(own["exchanges"]),
            )
        )
    return result


def _seconds(milliseconds: int) -> str:
    """A delay for people: '1 s', '0.5 s', '90 s'."""
    return f"{milliseconds / 1000:g} s"


def definitions(model: Model, vhost: str = VHOST) -> dict[str, list[dict[str, Any]]]:
    """The definitions document: exchanges, queues and bindings of the feature, all in vhost."""
    described = topology(model)
    return {
        "exchanges": [_exchange(e, vhost) for e in described["exchanges"]],
        "queues": [_queue(q, vhost) for q in described["queues"]],
        "bindings": [_binding(b, vhost) for b in described["bindings"]],
    }


def _exchange(spec: ExchangeSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "auto_delete": False}


def _queue(spec: QueueSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "auto_delete": False}


def _binding(spec: BindingSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "arguments": {}}
