"""The RabbitMQ topology as plain data: its types and the names of each queue's retry and dead-letter chain.

planforge builds a feature's topology from its manifest (planforge.topology) out of these; services declare it
at start-up (planforge_runtime.messaging.declare).

Besides the manifest's exchanges, queues and bindings, every queue ``Q`` gets a broker-native retry chain,
so a consumer only ever acks or rejects (``basic.nack``/``basic.reject`` with ``requeue=False``) and the broker
applies the backoff, counts the attempts and dead-letters; a poison message can never loop forever:

- ``Q`` dead-letters to ``Q.retry`` (direct, internal) and keeps the message's routing key.
- A routing key that ``Q.retry`` has no binding for is a first failure: its alternate exchange
  ``Q.retry.first`` (fanout, internal) puts the message in ``Q.retry.1``.
- ``Q.retry.<n>`` holds the message for the n-th delay (``x-message-ttl``), then dead-letters it to
  ``Q.requeue`` (fanout, internal, bound to ``Q``) with the routing key ``to:<next stage>``: ``to:Q.retry.<n+1>``,
  or ``to:Q.dlx`` after the last retry. ``Q.retry`` routes those keys to the next retry queue or to ``Q.dlx``.
- ``Q.dlx`` (fanout) delivers to ``Q.dlq`` when the manifest dead-letters, and drops the message otherwise.
  Services may also publish there directly, with the reason in a header, for messages no retry can fix.

Stage keys contain ':', which manifest routing keys cannot, so they never clash with an event's key. With no
retries, ``Q`` dead-letters straight to ``Q.dlx``. A ``max_length`` queue rejects publishes when full
(``x-overflow: reject-publish``) so publishers with confirms see it instead of losing the oldest message.
Every queue of a chain has the type of ``Q`` (``x-queue-type``: quorum or classic), so a quorum queue's messages
stay replicated while they wait for a retry or sit in the dead letter queue.
Everything is expressed as declare arguments, not policies, so that services can declare exactly the same
topology idempotently at start-up. Changing a delay changes a retry queue's arguments, which RabbitMQ refuses
to redeclare: such a change needs the retry queues deleted first.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "VHOST",
    "BindingSpec",
    "ExchangeSpec",
    "QueueSpec",
    "Topology",
    "dead_letter_exchange",
    "dead_letter_queue",
    "first_retry_exchange",
    "requeue_exchange",
    "retry_exchange",
    "retry_queue",
    "stage_key",
]

# The vhost that generated artefacts and services use.
VHOST = "/"


class ExchangeSpec(TypedDict):
    """An exchange to declare."""

    name: str
    type: str
    durable: bool
    internal: bool
    arguments: dict[str, Any]


class QueueSpec(TypedDict):
    """A queue to declare, with its x-arguments."""

    name: str
    durable: bool
    arguments: dict[str, Any]


class BindingSpec(TypedDict):
    """A binding from an exchange to a queue or to another exchange."""

    source: str
    destination: str
    destination_type: str
    routing_key: str


class Topology(TypedDict):
    """Everything to declare on the broker, each list sorted."""

    exchanges: list[ExchangeSpec]
    queues: list[QueueSpec]
    bindings: list[BindingSpec]


def retry_exchange(queue: str) -> str:
    """Where a queue's rejected messages go: routes them to the next stage by routing key."""
    return f"{queue}.retry"


def first_retry_exchange(queue: str) -> str:
    """The alternate exchange of the retry exchange: first failures go through it to the first retry queue."""
    return f"{queue}.retry.first"


def retry_queue(queue: str, attempt: int) -> str:
    """The queue that holds a message for the delay before retry number attempt (1-based)."""
    return f"{queue}.retry.{attempt}"


def requeue_exchange(queue: str) -> str:
    """Where retry queues dead-letter expired messages: bound to the queue they came from."""
    return f"{queue}.requeue"


def dead_letter_exchange(queue: str) -> str:
    """The queue's dead letter exchange: failures that no retry is left for."""
    return f"{queue}.dlx"


def dead_letter_queue(queue: str) -> str:
    """The queue's dead letter queue, bound to its dead letter exchange."""
    return f"{queue}.dlq"


def stage_key(destination: str) -> str:
    """The routing key that sends a rejected message to destination (a retry queue or the dead letter exchange)."""
    return f"to:{destination}"
