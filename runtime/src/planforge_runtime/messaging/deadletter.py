"""Attempts and dead letters: how often a message failed (from x-death), and the dead letter that keeps why.

RabbitMQ's own dead-lettering keeps only the headers of the original publish, so a consumer that gives up
publishes the message itself to the queue's dead letter exchange with the reason in x-planforge-* headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from planforge_runtime.logs import MASK, safe_message

__all__ = [
    "ATTEMPTS_HEADER",
    "ERROR_HEADER",
    "POISON_HEADER",
    "QUEUE_HEADER",
    "attempt_number",
    "dead_letter",
    "failure_reason",
    "original_routing_key",
    "persistent_copy",
    "pii_values",
]

ERROR_HEADER = "x-planforge-error"
ATTEMPTS_HEADER = "x-planforge-attempts"
POISON_HEADER = "x-planforge-poison"
QUEUE_HEADER = "x-planforge-queue"
_MAX_REASON = 1000


def failure_reason(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """The reason kept with a dead letter and logged: the exception's type and message, cut to a sane length.

    It never holds data: a database error is told by its classes, SQLSTATE and constraint only (its text quotes
    bound parameters and the offending values), and every secret (the event's PII values) is masked.
    """
    text = f"{type(error).__name__}: {safe_message(error)}".rstrip(": ")
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def pii_values(data: Any, fields: frozenset[str]) -> list[str]:
    """The string values of members named in fields, at any depth of data (what a reason must not show)."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in fields and isinstance(value, str | int | float) and not isinstance(value, bool):
                found.append(str(value))
            else:
                found.extend(pii_values(value, fields))
    elif isinstance(data, list):
        for item in data:
            found.extend(pii_values(item, fields))
    return found


def _deaths(message: AbstractIncomingMessage) -> list[Mapping[str, Any]]:
    deaths = (message.headers or {}).get("x-death")
    return [d for d in deaths if isinstance(d, Mapping)] if isinstance(deaths, list) else []


def attempt_number(message: AbstractIncomingMessage, queue: str) -> int:
    """Which delivery attempt this is: 1 + how often the queue's consumers rejected the message before."""
    for death in _deaths(message):
        if death.get("queue") == queue and death.get("reason") == "rejected":
            return int(death.get("count", 0)) + 1
    return 1


def original_routing_key(message: AbstractIncomingMessage, queue: str) -> str:
    """The routing key the message was published with (a retried message arrives with a 'to:<stage>' key)."""
    for death in _deaths(message):
        keys = death.get("routing-keys")
        if death.get("queue") == queue and death.get("reason") == "rejected" and isinstance(keys, list) and keys:
            return keys[0].decode() if isinstance(keys[0], bytes) else str(keys[0])
    return message.routing_key or ""


def dead_letter(
    message: AbstractIncomingMessage, queue: str, reason: str, attempts: int, poison: bool
) -> aio_pika.Message:
    """A persistent copy of message for the dead letter queue, with why, after how many attempts, and from where."""
    headers = {
        **(message.headers or {}),
        ERROR_HEADER: reason,
        ATTEMPTS_HEADER: attempts,
        POISON_HEADER: poison,
        QUEUE_HEADER: queue,
    }
    return persistent_copy(message, headers)


def persistent_copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of a received message, with these headers and all its other properties."""
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
    )
