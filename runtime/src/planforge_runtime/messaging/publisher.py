"""Publishing with nothing lost: persistent messages, publisher confirms, mandatory routing, reconnects.

A Publisher holds one connection and one confirm channel, opened on first use and reopened after a failure.
send() makes one attempt; publish() retries transient failures with backoff (a lost confirm can mean the broker
has the message, so a retry may duplicate it: consumers deduplicate by eventId).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aiormq.exceptions import DeliveryError, PublishError
from opentelemetry.context import Context

from planforge_runtime.messaging.backoff import TRANSIENT, Backoff
from planforge_runtime.messaging.envelope import Envelope
from planforge_runtime.tracing import producer_span

__all__ = [
    "CORRELATION_HEADER",
    "PublishFailedError",
    "Publisher",
    "UnroutableError",
    "envelope_message",
    "event_message",
]

CORRELATION_HEADER = "x-correlation-id"
_log = logging.getLogger("planforge.messaging")


class PublishFailedError(RuntimeError):
    """The broker refused the message (basic.nack), e.g. a full queue with x-overflow reject-publish."""


class UnroutableError(PublishFailedError):
    """The broker returned a mandatory message: no queue is bound for its routing key."""


def envelope_message(envelope: Envelope, headers: Mapping[str, Any] | None = None) -> aio_pika.Message:
    """The AMQP message of an envelope: persistent JSON, message_id = eventId, correlation ID as property and header."""
    return event_message(
        envelope.body(),
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        correlation_id=envelope.correlation_id,
        timestamp=_timestamp(envelope.timestamp),
        headers=headers,
    )


def event_message(
    body: bytes,
    *,
    event_id: str,
    event_type: str,
    correlation_id: str,
    timestamp: datetime | None = None,
    headers: Mapping[str, Any] | None = None,
) -> aio_pika.Message:
    """A persistent JSON message for an encoded envelope, with its ids as AMQP properties."""
    return aio_pika.Message(
        body,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        correlation_id=correlation_id,
        type=event_type,
        timestamp=timestamp,
        headers={CORRELATION_HEADER: correlation_id, **(headers or {})},
    )


class Publisher:
    """Publishes with confirms on one lazily opened connection; reconnects after transient failures."""

    def __init__(self, url: str, *, backoff: Backoff | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, tuple[AbstractChannel, AbstractExchange]] = {}
        self._lock = asyncio.Lock()
        # Called with the event type of every confirmed mandatory publish (events, not dead letters).
        self.on_confirmed: Callable[[str], None] | None = None

    async def channel(self) -> AbstractChannel:
        """The confirm channel, connecting once if needed (raises a TRANSIENT error when the broker is down)."""
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self._drop()
                self._connection = await aio_pika.connect(self.url, timeout=self.timeout)
                self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            return self._channel

    async def connect(self) -> AbstractChannel:
        """The confirm channel, retrying the connection with backoff until the deadline."""
        async for attempt in self.backoff.retrying():
            with attempt:
                return await self.channel()
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def send(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.Message,
        *,
        mandatory: bool = True,
        parent: Context | None = None,
    ) -> None:
        """One publish, confirmed, in a PRODUCER span (a child of parent, else of the current span) whose trace
        context the message carries; UnroutableError, PublishFailedError, or a TRANSIENT error after a reset."""
        with producer_span(exchange, routing_key, message.headers, message.type, parent):
            await self._send(exchange, routing_key, message, mandatory)

    async def _send(self, exchange: str, routing_key: str, message: aio_pika.Message, mandatory: bool) -> None:
        channel = await self.channel()
        target = await self._exchange(channel, exchange)
        try:
            await target.publish(message, routing_key=routing_key, mandatory=mandatory, timeout=self.timeout)
        except PublishError as exc:
            raise UnroutableError(f"no queue is bound to {exchange!r} for {routing_key!r}") from exc
        except DeliveryError as exc:
            raise PublishFailedError(f"the broker refused the message for {exchange!r}/{routing_key!r}") from exc
        except TRANSIENT:
            await self._reset(channel)
            raise
        if mandatory and message.type and self.on_confirmed is not None:
            self.on_confirmed(message.type)

    async def publish(
        self, envelope: Envelope, exchange: str, routing_key: str, *, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Publish an envelope, retrying transient failures with backoff until the deadline."""
        message = envelope_message(envelope, headers)
        async for attempt in self.backoff.retrying():
            with attempt:
                await self.send(exchange, routing_key, message)

    async def close(self) -> None:
        """Close the connection; the next publish opens a new one."""
        async with self._lock:
            await self._drop()

    async def _reset(self, failed: AbstractChannel) -> None:
        """Drop the connection of a failed channel, unless another publish already replaced it."""
        async with self._lock:
            if self._channel is failed:
                await self._drop()

    async def _exchange(self, channel: AbstractChannel, name: str) -> AbstractExchange:
        if name == "":
            return channel.default_exchange
        cached = self._exchanges.get(name)
        if cached is None or cached[0] is not channel:
            cached = self._exchanges[name] = (channel, await channel.get_exchange(name, ensure=False))
        return cached[1]

    async def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._exchanges.clear()
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), self.timeout)
            except Exception as exc:  # a broken connection may fail to close; it is gone either way
                _log.debug("closing a broken connection failed: %s", exc)


def _timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
