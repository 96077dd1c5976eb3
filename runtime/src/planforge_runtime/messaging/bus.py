"""EventBus: everything a generated service does with events, behind start(), stop(), publish(), stage(), consume().

start() declares the topology (idempotently), creates the messaging tables when the service has a database,
starts the outbox relay and every registered consumer; each reconnects on its own after a broker outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aio_pika
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.messaging.backoff import Backoff
from planforge_runtime.messaging.consumer import Compensation, Consumer, Depth, Handler, Outcome
from planforge_runtime.messaging.declare import declare_topology, retries_of
from planforge_runtime.messaging.envelope import Envelope, EventCatalog
from planforge_runtime.messaging.idempotency import (
    IdempotencyStore,
    MemoryIdempotency,
    RedisIdempotency,
    SqlIdempotency,
)
from planforge_runtime.messaging.outbox import OutboxRelay, add_event
from planforge_runtime.messaging.publisher import Publisher
from planforge_runtime.messaging.tables import create_missing
from planforge_runtime.topology import Topology

if TYPE_CHECKING:
    from planforge_runtime.resources import Resources

__all__ = ["EventBus"]


class EventBus:
    """A service's connection to its events: one publisher, an outbox relay (with a database) and consumers."""

    def __init__(
        self,
        amqp_url: str,
        topology: Topology | Mapping[str, Any],
        catalog: EventCatalog,
        *,
        sessions: Callable[[], AsyncSession] | None = None,
        redis: Redis | None = None,
        backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        on_outcome: Outcome | None = None,
        redis_prefix: str = "",
        pii_fields: frozenset[str] = frozenset(),
        outbox_retention: float = 7 * 86400.0,
    ) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.catalog = catalog
        self.sessions = sessions
        self.redis = redis
        self.redis_prefix = redis_prefix
        self.backoff = backoff or Backoff()
        self.publisher = Publisher(amqp_url, backoff=self.backoff)
        self.relay = (
            OutboxRelay(sessions, self.publisher, poll_interval=poll_interval, retention=outbox_retention)
            if sessions
            else None
        )
        self.consumers: list[Consumer] = []
        self.on_outcome = on_outcome
        self.pii_fields = frozenset(pii_fields)
        self.on_depth: Depth | None = None  # told each consumed queue's depth, as the consumers read it
        # False when migrations own the tables (generated services); a bus used on its own creates them.
        self.manage_tables = True
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_service(
        cls, resources: Resources, topology: Topology | Mapping[str, Any], catalog: EventCatalog
    ) -> EventBus:
        """The bus of a generated service: its database if it owns one, else its Redis, for idempotency."""
        sessions = resources.session if resources.config.owns_database else None
        redis = resources.redis if resources.config.uses("redis") else None
        prefix = resources.settings.redis_key_prefix
        pii = frozenset(resources.config.pii_fields)
        return cls(
            resources.settings.amqp_url,
            topology,
            catalog,
            sessions=sessions,
            redis=redis,
            redis_prefix=prefix,
            pii_fields=pii,
            outbox_retention=resources.config.outbox_retention_seconds,
        )

    def idempotency(self) -> IdempotencyStore:
        """processed_events in the database, else Redis keys, else an in-memory LRU."""
        if self.sessions is not None:
            return SqlIdempotency(self.sessions)
        if self.redis is not None:
            return RedisIdempotency(self.redis, prefix=f"{self.redis_prefix}planforge:processed:")
        return MemoryIdempotency()

    def consume(
        self,
        queue: str,
        handlers: Mapping[str, Handler],
        *,
        compensation: Compensation | None = None,
        max_retries: int | None = None,
        prefetch: int = 10,
        store: IdempotencyStore | None = None,
    ) -> Consumer:
        """Register a consumer of queue (before start()); max_retries defaults to the topology's retry chain.

        Keep prefetch (the handlers that run at once) within the SQL pool's size: SQLAlchemy opens and closes
        a connection for every use beyond it."""
        consumer = Consumer(
            queue,
            handlers,
            catalog=self.catalog,
            store=store or self.idempotency(),
            publisher=self.publisher,
            max_retries=retries_of(self.topology, queue) if max_retries is None else max_retries,
            compensation=compensation,
            prefetch=prefetch,
            on_staged=self.relay.wake_after_commit if self.relay else None,
            on_outcome=self.on_outcome,
            pii_fields=self.pii_fields,
            on_depth=self.on_depth,
        )
        self.consumers.append(consumer)
        return consumer

    async def start(self) -> None:
        """Declare the topology, create the messaging tables, start the relay and the consumers."""
        async for attempt in self.backoff.retrying():
            with attempt:
                async with await aio_pika.connect(self.amqp_url, timeout=self.publisher.timeout) as connection:
                    await declare_topology(await connection.channel(), self.topology)
        await self.create_tables()
        if self.relay is not None:
            self.relay.start()
        backoff = Backoff(self.backoff.initial, self.backoff.maximum, deadline=None)
        self._tasks = [asyncio.create_task(c.run(self.amqp_url, backoff)) for c in self.consumers]

    async def create_tables(self) -> None:
        """Create the outbox and processed_events tables when the bus has a database and manages its tables
        (a generated service does not: its migrations created them, see planforge_runtime.migrate)."""
        if self.sessions is not None and self.manage_tables:
            async with self.sessions() as session:
                await (await session.connection()).run_sync(create_missing)
                await session.commit()

    async def ready(self, timeout: float = 10.0) -> None:
        """Wait until every consumer is consuming."""
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in self.consumers)), timeout)

    async def stop(self) -> None:
        """Stop the consumers and the relay, and close the publisher; unpublished outbox rows stay."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.relay is not None:
            await self.relay.stop()
        await self.publisher.close()

    async def publish(self, event_type: str, data: Any, *, correlation_id: str | None = None) -> Envelope:
        """Validate and publish an event now, with confirms (retried while the broker is unreachable)."""
        envelope = self.catalog.envelope(event_type, data, correlation_id)
        spec = self.catalog.spec(event_type)
        await self.publisher.publish(envelope, spec.exchange, spec.routing_key)
        return envelope

    async def stage(
        self, session: AsyncSession, event_type: str, data: Any, *, correlation_id: str | None = None
    ) -> Envelope:
        """Validate an event and add it to the outbox in the session's transaction; relayed once that commits."""
        envelope = self.catalog.envelope(event_type, data, correlation_id)
        spec = self.catalog.spec(event_type)
        await add_event(session, envelope, spec.exchange, spec.routing_key)
        if self.relay is not None:
            self.relay.wake_after_commit(session)
        return envelope
