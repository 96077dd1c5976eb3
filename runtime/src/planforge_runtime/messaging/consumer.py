"""Consuming that loses nothing and does nothing twice.

A Consumer reads one queue. Each message is read as an envelope and validated, then handled once per eventId
(the idempotency store) and acked only after the handler's effects are recorded. A failing handler's message
is rejected without requeue, so the topology's retry queues apply the backoff; when the attempts (counted from
x-death) exceed max_retries, the consumer publishes it to the queue's dead letter exchange with the reason and
acks it, and publishes the compensation event if one is configured. Poison (not JSON, no envelope, an event
the queue has no handler for, data invalid for its schema) is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.correlation import correlation_scope
from planforge_runtime.messaging.backoff import TRANSIENT, Backoff
from planforge_runtime.messaging.batching import Batcher
from planforge_runtime.messaging.context import EventContext
from planforge_runtime.messaging.deadletter import (
    attempt_number,
    dead_letter,
    failure_reason,
    original_routing_key,
    pii_values,
)
from planforge_runtime.messaging.envelope import (
    Envelope,
    EnvelopeError,
    EventCatalog,
    EventValidationError,
    UnknownEventError,
)
from planforge_runtime.messaging.idempotency import IdempotencyStore, Processing, SqlIdempotency
from planforge_runtime.messaging.publisher import Publisher
from planforge_runtime.topology import dead_letter_exchange
from planforge_runtime.tracing import consumer_span

__all__ = ["Compensation", "Consumer", "Handler", "Outcome", "failure_data"]

Handler = Callable[[Envelope, EventContext], Awaitable[None]]
# Told how each delivery ended: (queue, event type or "unknown", ok|duplicate|retry|dead_letter|poison).
Outcome = Callable[[str, str, str], None]
# Told, every depth_interval seconds while consuming, how many messages wait in the queue: (queue, count).
Depth = Callable[[str, int], None]
_log = logging.getLogger("planforge.messaging.consumer")


def failure_data(failed: Envelope, reason: str) -> dict[str, Any]:
    """The default data of a compensation event: which event failed for good, and why."""
    return {"failedEventId": failed.event_id, "failedEventType": failed.event_type, "reason": reason[:200]}


@dataclass(frozen=True, slots=True)
class Compensation:
    """The event to publish when a message is dead-lettered for good, and how to build its data."""

    event_type: str
    data: Callable[[Envelope, str], Any] = field(default=failure_data)
    # The failed events it compensates for; empty means any event the queue dead-letters.
    for_events: frozenset[str] = frozenset()

    def applies_to(self, event_type: str) -> bool:
        """True when a dead-lettered event of this type is to be compensated."""
        return not self.for_events or event_type in self.for_events


class Consumer:
    """Consumes one queue with a handler per event type; see the module docstring for what happens on failure."""

    def __init__(
        self,
        queue: str,
        handlers: Mapping[str, Handler],
        *,
        catalog: EventCatalog,
        store: IdempotencyStore,
        publisher: Publisher,
        max_retries: int,
        compensation: Compensation | None = None,
        prefetch: int = 10,
        on_staged: Callable[[AsyncSession], None] | None = None,
        grace: float = 10.0,
        on_outcome: Outcome | None = None,
        pii_fields: frozenset[str] = frozenset(),
        on_depth: Depth | None = None,
        depth_interval: float = 5.0,
    ) -> None:
        for event_type in [*handlers, *([compensation.event_type] if compensation else [])]:
            catalog.spec(event_type)  # an unknown event fails at start-up, not on the first message
        self.queue = queue
        self.handlers = dict(handlers)
        self.catalog = catalog
        self.store = store
        self.publisher = publisher
        self.max_retries = max_retries
        self.compensation = compensation
        self.prefetch = prefetch
        self.on_staged = on_staged
        self.grace = grace
        self.on_outcome = on_outcome
        self.pii_fields = frozenset(pii_fields)
        self.on_depth = on_depth
        self.depth_interval = depth_interval
        self.ready = asyncio.Event()
        self._handling: set[asyncio.Task[Any]] = set()
        # With PostgreSQL, the deliveries in hand share one transaction (a savepoint each): see batching.py.
        self._batcher: Batcher | None = None
        if isinstance(store, SqlIdempotency) and store.batches():
            self._batcher = Batcher(store, queue, self._run, prefetch)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """Handle one delivery: ack, reject for a retry, or dead-letter; never raises."""
        task = asyncio.current_task()
        if task is not None:  # remembered so that stopping lets it finish
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
        attempt = attempt_number(message, self.queue)
        envelope = await self._accepted(message, attempt)
        if envelope is None:
            return
        # Handler logs and emitted events carry the correlation ID, and continue the publisher's trace.
        span = consumer_span(self.queue, envelope.event_type, envelope.event_id, message.headers)
        with correlation_scope(envelope.correlation_id), span:
            try:
                duplicate = await self._process(envelope, attempt)
            except Exception as exc:  # whatever the handler raised is a failed attempt
                await self._failed(message, envelope, attempt, exc)
                return
            await _settle(message.ack(), "ack")
        self._observe(envelope.event_type, "duplicate" if duplicate else "ok")

    def _observe(self, event_type: str, outcome: str) -> None:
        """Tell the outcome; the event label is one of the catalog's event names or 'unknown', never message text."""
        if self.on_outcome is not None:
            self.on_outcome(self.queue, event_type if event_type in self.catalog else "unknown", outcome)

    def _reason(self, error: BaseException, envelope: Envelope | None) -> str:
        """failure_reason with the event's PII values masked."""
        return failure_reason(error, pii_values(envelope.data, self.pii_fields) if envelope else ())

    async def _accepted(self, message: AbstractIncomingMessage, attempt: int) -> Envelope | None:
        """The message's valid envelope, or None after dead-lettering it as poison."""
        try:
            envelope = self.catalog.read(message.body)
        except EnvelopeError as exc:
            await self._give_up(message, None, self._reason(exc, None), attempt, poison=True)
            return None
        try:
            if envelope.event_type not in self.handlers:
                raise UnknownEventError(envelope.event_type, self.queue)
            self.catalog.validate(envelope.event_type, envelope.data)
        except (EnvelopeError, EventValidationError) as exc:
            failed = envelope if isinstance(exc, EventValidationError) else None
            await self._give_up(message, failed, self._reason(exc, envelope), attempt, poison=True)
            return None
        return envelope

    async def _process(self, envelope: Envelope, attempt: int) -> bool:
        """Run the handler once per eventId, its effects committed when this returns; True for a duplicate."""
        if self._batcher is not None:
            outcome = await self._batcher.submit(envelope, attempt)
            if isinstance(outcome, Exception):
                raise outcome
            duplicate = outcome
        else:
            async with self.store.processing(envelope.event_id, self.queue) as processing:
                duplicate = processing.duplicate
                if not duplicate:
                    await self._run(envelope, attempt, processing)
        if duplicate:
            _log.info("event %s already processed on %s: acked", envelope.event_id, self.queue)
        return duplicate

    async def _run(self, envelope: Envelope, attempt: int, processing: Processing) -> None:
        """The handler of the event, given its context (a session joining the batch's transaction, when batched)."""
        with correlation_scope(envelope.correlation_id):
            on_staged = self._staged(processing)
            context = EventContext(
                envelope, self.queue, attempt, processing.session, self.catalog, self.publisher, on_staged
            )
            await self.handlers[envelope.event_type](envelope, context)

    def _staged(self, processing: Processing) -> Callable[[AsyncSession], None] | None:
        """What to tell when the handler stages an event: in a batch, the batch's commit is the one to wait for."""
        on_staged, batch = self.on_staged, processing.batch_session
        if on_staged is None or batch is None:
            return on_staged
        return lambda _delivery_session: on_staged(batch)

    async def _failed(
        self, message: AbstractIncomingMessage, envelope: Envelope, attempt: int, error: Exception
    ) -> None:
        reason = self._reason(error, envelope)
        if attempt <= self.max_retries:
            _log.warning("event %s failed on %s (attempt %d): %s", envelope.event_id, self.queue, attempt, reason)
            await _settle(message.reject(requeue=False), "reject")
            self._observe(envelope.event_type, "retry")
            return
        await self._give_up(message, envelope, reason, attempt, poison=False)

    async def _give_up(
        self, message: AbstractIncomingMessage, failed: Envelope | None, reason: str, attempt: int, *, poison: bool
    ) -> None:
        """Dead-letter the message with the reason, compensate, then ack it; if that fails, leave it to the broker."""
        _log.error("message %s dead-lettered from %s: %s", message.message_id, self.queue, reason)
        self._observe(failed.event_type if failed else "unknown", "poison" if poison else "dead_letter")
        letter = dead_letter(message, self.queue, reason, attempt, poison)
        try:
            await self.publisher.send(
                dead_letter_exchange(self.queue), original_routing_key(message, self.queue), letter, mandatory=False
            )
        except Exception as exc:  # the broker's own chain still ends in the dead letter queue, without the reason
            _log.error("publishing the dead letter failed (%s); rejecting instead", failure_reason(exc))
            await _settle(message.reject(requeue=False), "reject")
            return
        if failed is not None and self.compensation is not None and self.compensation.applies_to(failed.event_type):
            await self._compensate(failed, reason)
        await _settle(message.ack(), "ack")

    async def _compensate(self, failed: Envelope, reason: str) -> None:
        """Publish the compensation event, with an eventId derived from the failed one so a repeat is a duplicate."""
        assert self.compensation is not None
        event_type = self.compensation.event_type
        seed = f"planforge:compensation:{self.queue}:{failed.event_id}"
        try:
            envelope = self.catalog.envelope(
                event_type,
                self.compensation.data(failed, reason),
                correlation_id=failed.correlation_id,
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, seed)),
            )
            spec = self.catalog.spec(event_type)
            await self.publisher.publish(envelope, spec.exchange, spec.routing_key)
        except Exception as exc:  # the dead letter is kept; compensation can be replayed from it
            _log.error(
                "compensation %s for event %s failed: %s", event_type, failed.event_id, self._reason(exc, failed)
            )

    async def run(self, url: str, backoff: Backoff | None = None) -> None:
        """Consume until cancelled, reconnecting with backoff whenever the connection is lost."""
        backoff = backoff or Backoff(deadline=None)
        failures = 0
        while True:
            try:
                await self._consume_until_lost(url)
                failures = 1
            except TRANSIENT as exc:
                failures += 1
                _log.warning("consumer of %s cannot reach the broker: %s", self.queue, failure_reason(exc))
            await asyncio.sleep(backoff.delay(failures))

    async def _consume_until_lost(self, url: str) -> None:
        connection = await aio_pika.connect(url, timeout=self.publisher.timeout)
        lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: lost.set())
        queue: AbstractQueue | None = None
        probe: asyncio.Task[None] | None = None
        tag = ""
        try:
            channel = await connection.channel()
            channel.close_callbacks.add(lambda *_: lost.set())
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.get_queue(self.queue, ensure=False)
            tag = await queue.consume(self.handle)
            self.ready.set()
            probe = asyncio.create_task(self._report_depth(connection)) if self.on_depth else None
            await lost.wait()
            _log.warning("consumer of %s lost its connection; reconnecting", self.queue)
        finally:
            self.ready.clear()
            if probe is not None:
                probe.cancel()
            if queue is not None and tag and not lost.is_set():
                await self._drain(queue, tag)
            with contextlib.suppress(Exception):
                await connection.close()

    async def _report_depth(self, connection: aio_pika.abc.AbstractConnection) -> None:
        """The queue's ready messages, read with a passive declare on a channel of its own (the broker's count;
        no plugin or policy needed), reported until the connection goes."""
        assert self.on_depth is not None
        channel = await connection.channel()
        while True:
            try:
                declared = await channel.declare_queue(self.queue, passive=True)
            except Exception as exc:  # a failed probe must not disturb consuming; try again later
                _log.warning("reading the depth of %s failed: %s", self.queue, failure_reason(exc))
                if channel.is_closed:
                    channel = await connection.channel()
            else:
                count = declared.declaration_result.message_count
                self.on_depth(self.queue, int(count or 0))
            await asyncio.sleep(self.depth_interval)

    async def _drain(self, queue: AbstractQueue, tag: str) -> None:
        """Stopping: take no new deliveries, and give the handlers already running time to finish and ack."""
        with contextlib.suppress(Exception):
            await queue.cancel(tag)
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=self.grace)


async def _settle(action: Awaitable[Any], what: str) -> None:
    """Ack or reject; when the channel is gone the broker redelivers the message, which idempotency absorbs."""
    try:
        await action
    except Exception as exc:
        _log.warning("%s failed (%s); the broker will redeliver the message", what, failure_reason(exc))
