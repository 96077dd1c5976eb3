"""Reliable messaging for generated services: envelope, topology declaration, confirmed publishing, the
transactional outbox, and idempotent consumers with broker-side retries, dead letters and compensation.

A service wires it through EventBus; the pieces are usable on their own.
"""

from __future__ import annotations

from planforge_runtime.messaging.backoff import TRANSIENT, Backoff
from planforge_runtime.messaging.bus import EventBus
from planforge_runtime.messaging.consumer import Compensation, Consumer, Handler, failure_data
from planforge_runtime.messaging.context import EventContext
from planforge_runtime.messaging.deadletter import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    POISON_HEADER,
    QUEUE_HEADER,
    attempt_number,
)
from planforge_runtime.messaging.declare import TopologyError, declare_topology, retries_of
from planforge_runtime.messaging.envelope import (
    Envelope,
    EnvelopeError,
    EventCatalog,
    EventSpec,
    EventValidationError,
    UnknownEventError,
)
from planforge_runtime.messaging.idempotency import (
    EventInProgressError,
    IdempotencyStore,
    MemoryIdempotency,
    Processing,
    RedisIdempotency,
    SqlIdempotency,
)
from planforge_runtime.messaging.outbox import OutboxRelay, add_event, delete_published
from planforge_runtime.messaging.publisher import (
    CORRELATION_HEADER,
    Publisher,
    PublishFailedError,
    UnroutableError,
    envelope_message,
)
from planforge_runtime.messaging.tables import create_tables, metadata, outbox, processed_events

__all__ = [
    "ATTEMPTS_HEADER",
    "CORRELATION_HEADER",
    "ERROR_HEADER",
    "POISON_HEADER",
    "QUEUE_HEADER",
    "TRANSIENT",
    "Backoff",
    "Compensation",
    "Consumer",
    "Envelope",
    "EnvelopeError",
    "EventBus",
    "EventCatalog",
    "EventContext",
    "EventInProgressError",
    "EventSpec",
    "EventValidationError",
    "Handler",
    "IdempotencyStore",
    "MemoryIdempotency",
    "OutboxRelay",
    "Processing",
    "PublishFailedError",
    "Publisher",
    "RedisIdempotency",
    "SqlIdempotency",
    "TopologyError",
    "UnknownEventError",
    "UnroutableError",
    "add_event",
    "attempt_number",
    "create_tables",
    "declare_topology",
    "delete_published",
    "envelope_message",
    "failure_data",
    "metadata",
    "outbox",
    "processed_events",
    "retries_of",
]
