"""Event replay: move dead-lettered events back to the queue they failed on, once the cause is fixed.

Each dead letter queue ``Q.dlq`` is read with ``basic.get`` up to the depth it had when the replay started, so
the replay ends even while new failures arrive. A message that matches the filter (event types, and the
envelope's ``timestamp`` within since/until) is republished straight to ``Q`` through the default exchange,
confirmed by the broker, and only then acked in the dead letter queue: a crash in between leaves a copy in both,
and the consumer's idempotency by ``eventId`` makes the event take effect once. The copy carries no ``x-death``
or planforge dead-letter headers, so it gets the manifest's full retries again, and counts its replays in
``x-planforge-replays``. Messages that do not match, and everything in a dry run, are returned to the dead
letter queue unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from planforge_runtime.messaging.deadletter import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    POISON_HEADER,
    QUEUE_HEADER,
    persistent_copy,
)

__all__ = ["REPLAYS_HEADER", "ReplayFilter", "ReplayResult", "replay_dead_letters"]

REPLAYS_HEADER = "x-planforge-replays"
_DROPPED_HEADERS = frozenset({ERROR_HEADER, ATTEMPTS_HEADER, POISON_HEADER, QUEUE_HEADER})


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which dead letters to replay: all, or those of some event types, published within a time range."""

    event_types: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, body: bytes) -> bool:
        """True when the message's envelope passes the filter (a body that is no envelope passes only 'all')."""
        if not self.event_types and self.since is None and self.until is None:
            return True
        envelope = _envelope(body)
        if envelope is None:
            return False
        if self.event_types and envelope.get("eventType") not in self.event_types:
            return False
        return self._in_range(envelope.get("timestamp"))

    def _in_range(self, timestamp: object) -> bool:
        if self.since is None and self.until is None:
            return True
        if not isinstance(timestamp, str):
            return False
        try:
            when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            return False
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


@dataclass(slots=True)
class ReplayResult:
    """What a replay of one queue's dead letters found and did."""

    queue: str
    examined: int = 0
    matched: int = 0
    replayed: int = 0
    event_ids: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Dead letters left in the dead letter queue."""
        return self.examined - self.replayed


async def replay_dead_letters(
    channel: AbstractChannel,
    queue: str,
    dead_letter_queue: str,
    which: ReplayFilter | None = None,
    *,
    dry_run: bool = False,
    limit: int | None = None,
) -> ReplayResult:
    """Replay the dead letters of queue that match which (all by default); a dry run only counts them."""
    which = which or ReplayFilter()
    result = ReplayResult(queue)
    await channel.declare_queue(queue, passive=True)  # the destination must exist: never recreate it here
    source = await channel.declare_queue(dead_letter_queue, passive=True)
    depth = source.declaration_result.message_count or 0
    held: list[AbstractIncomingMessage] = []
    try:
        for _ in range(depth if limit is None else min(depth, limit)):
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            result.examined += 1
            if not which.matches(message.body):
                held.append(message)
                continue
            result.matched += 1
            if dry_run:
                held.append(message)
                continue
            await channel.default_exchange.publish(_replayed(message), routing_key=queue, mandatory=True)
            await message.ack()
            result.replayed += 1
            result.event_ids.append(message.message_id or "")
    finally:
        for message in held:
            await message.nack(requeue=True)
        # basic.nack has no reply: a synchronous method after them returns once the broker has taken them.
        await channel.declare_queue(dead_letter_queue, passive=True)
    return result


def _replayed(message: AbstractIncomingMessage) -> aio_pika.Message:
    """A persistent copy of a dead letter with its failure history removed and its replays counted."""
    headers: dict[str, Any] = {
        key: value
        for key, value in (message.headers or {}).items()
        if key not in _DROPPED_HEADERS and not key.startswith(("x-death", "x-first-death", "x-last-death"))
    }
    previous = (message.headers or {}).get(REPLAYS_HEADER, 0)
    headers[REPLAYS_HEADER] = (previous if isinstance(previous, int) else 0) + 1
    return persistent_copy(message, headers)


def _envelope(body: bytes) -> Mapping[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
