"""A generated service's events, wired: its EventBus, its consumers' user-owned handlers, and ctx.publish.

planforge computes ServiceEvents from the manifest (services/<package>/events.py); create_app hands it to
ServiceBus when the service uses RabbitMQ. Each consumed event is handled by ``handle`` in
``<package>.impl.on_<event>``, imported lazily like route handlers. A missing or unimplemented handler fails
the delivery, so the message is retried with the manifest's backoff and then dead-lettered: nothing is lost,
and it can be replayed from the dead letter queue once the handler exists. Before the handler runs, the
wiring drops the cache entries the event invalidates (key: the event data fields named in Invalidation).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.audit import AuditRecord
from planforge_runtime.messaging import Compensation, Envelope, EventBus, EventCatalog, EventContext, Handler
from planforge_runtime.metrics import Metrics
from planforge_runtime.operations import Operations
from planforge_runtime.resources import Resources

_log = logging.getLogger("planforge.audit")

__all__ = [
    "ConsumedEvent",
    "ConsumerConfig",
    "Invalidation",
    "ServiceBus",
    "ServiceEvents",
    "UndeclaredEventError",
    "compensation_data",
]

# Handlers that run at once per queue; within SQLAlchemy's default pool of 5 connections.
PREFETCH = 5


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Cache entries an event invalidates: in the key space of owner (None: this service), the entry whose key
    is the values of the event's fields (joined as CacheAside.entry_key joins them); no fields: every entry."""

    cache: str
    fields: tuple[str, ...] = ()
    owner: str | None = None
    whole: bool = False


@dataclass(frozen=True, slots=True)
class ConsumedEvent:
    """An event a queue delivers to the service, the impl module of its handler, and its cache invalidations."""

    event: str
    module: str
    invalidates: tuple[Invalidation, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """One queue the service consumes; compensation maps a failed event to the event published if it dies."""

    queue: str
    events: tuple[ConsumedEvent, ...]
    compensations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceEvents:
    """What planforge derived about a service's events: topology to declare, catalog, publishes, consumers."""

    topology: Mapping[str, Any]
    catalog: EventCatalog
    publishes: tuple[str, ...]
    consumers: tuple[ConsumerConfig, ...] = ()
    # (event, invalidation): entries of the service's own caches it drops when it publishes the event.
    invalidates: tuple[tuple[str, Invalidation], ...] = ()


class UndeclaredEventError(ValueError):
    """A handler published an event its service does not declare in the manifest's publishes."""

    def __init__(self, service: str, event_type: str, declared: tuple[str, ...]) -> None:
        listed = ", ".join(declared) or "none"
        super().__init__(
            f"{service} does not publish {event_type!r}: add it to the service's publishes in the manifest "
            f"(it publishes: {listed})"
        )
        self.event_type = event_type


class ServiceBus:
    """The app's EventBus: consumers bound to the service's handlers, publishing checked against the manifest."""

    def __init__(self, resources: Resources, events: ServiceEvents, operations: Operations, metrics: Metrics) -> None:
        self.resources = resources
        self.events = events
        self.operations = operations
        self.metrics = metrics
        self._auditing: set[asyncio.Task[None]] = set()
        self.bus = EventBus.for_service(resources, events.topology, events.catalog)
        self.bus.manage_tables = False  # the service's migrations create the outbox and processed_events
        self.bus.on_outcome = self._outcome
        self.bus.on_depth = metrics.queue_depth
        self.bus.publisher.on_confirmed = metrics.published
        for consumer in events.consumers:
            self._register(consumer)

    def _outcome(self, queue: str, event_type: str, outcome: str) -> None:
        """Count every outcome; audit those the handler's own transaction did not record (retry, dead letter...)."""
        self.metrics.consumed(queue, event_type, outcome)
        if outcome != "ok":
            record = AuditRecord.now("consumed", f"{event_type} from {queue}", outcome)
            task = asyncio.get_running_loop().create_task(self._audit_failure(record))
            self._auditing.add(task)
            task.add_done_callback(self._auditing.discard)

    async def _audit_failure(self, record: AuditRecord) -> None:
        try:
            await self.resources.audit.append(record)
        except Exception:  # the message is settled already; the failure to record it must show in the logs
            _log.exception("could not append the audit record of %s", record.operation)

    def _register(self, consumer: ConsumerConfig) -> None:
        handlers = {c.event: self.handler(c) for c in consumer.events}
        self.bus.consume(consumer.queue, handlers, compensation=self._compensation(consumer), prefetch=PREFETCH)

    def _compensation(self, consumer: ConsumerConfig) -> Compensation | None:
        if not consumer.compensations:
            return None
        targets = {target for _, target in consumer.compensations}
        if len(targets) > 1:  # one compensation event per queue: the consumer publishes one
            raise ValueError(f"queue {consumer.queue!r} declares several compensation events: {sorted(targets)}")
        (target,) = targets
        failed = frozenset(event for event, _ in consumer.compensations)
        return Compensation(target, data=compensation_data(self.events.catalog, target), for_events=failed)

    def handler(self, consumed: ConsumedEvent) -> Handler:
        """The user's handler, found on each delivery (so a file written later is picked up), after invalidations."""
        name = self.operations.handler_name(consumed.module)

        async def handle(event: Envelope, ctx: EventContext) -> None:
            ctx.resources = self.resources
            for invalidation in consumed.invalidates:
                await self._invalidate(invalidation, event.data)
            found = self.operations.find(consumed.module)
            if found is None:
                raise NotImplementedError(f"the consumer of {consumed.event} is not implemented: write {name}")
            await found(event, ctx)
            # In the handler's transaction when it has one: the record commits with the effects, or not at all.
            record = AuditRecord.now("consumed", f"{event.event_type} from {ctx.queue}", "ok")
            await self.resources.audit.append(record, ctx.session)

        return handle

    async def _invalidate(self, invalidation: Invalidation, data: Any) -> None:
        cache = self.resources.cache(invalidation.cache, owner=invalidation.owner)
        if invalidation.whole:
            await cache.invalidate_all()
            return
        values = [data.get(name) for name in invalidation.fields] if isinstance(data, dict) else [None]
        if all(value is not None for value in values):
            await cache.invalidate(cache.entry_key(*values))

    def declared(self, event_type: str) -> None:
        """Raise UndeclaredEventError unless the service publishes event_type."""
        if event_type not in self.events.publishes:
            raise UndeclaredEventError(self.resources.config.name, event_type, self.events.publishes)

    async def publish(self, event_type: str, data: Any, session: AsyncSession | None = None) -> Envelope:
        """Into the outbox in session's transaction; else, with a database, in a transaction of its own;
        else straight to the broker with confirms."""
        self.declared(event_type)
        if session is not None:
            envelope = await self._staged(session, event_type, data)
        elif self.resources.config.owns_database:
            async with self.resources.session() as own, own.begin():
                envelope = await self._staged(own, event_type, data)
        else:
            envelope = await self.bus.publish(event_type, data)
            await self.resources.audit.append(AuditRecord.now("published", event_type, "confirmed"))
        for event, invalidation in self.events.invalidates:
            if event == event_type:
                await self._invalidate(invalidation, data)
        return envelope

    async def _staged(self, session: AsyncSession, event_type: str, data: Any) -> Envelope:
        """Into the outbox, with its audit record in the same transaction."""
        envelope = await self.bus.stage(session, event_type, data)
        await self.resources.audit.append(AuditRecord.now("published", event_type, "staged"), session)
        return envelope

    @property
    def enabled(self) -> bool:
        """False when the settings turn events off (EVENTS=false), as contract tests do."""
        return self.resources.settings.events

    async def start(self) -> None:
        """Declare the topology, start the outbox relay and the consumers; with events off, only create the
        messaging tables, so that handlers can still stage events (they wait in the outbox)."""
        if self.enabled:
            await self.bus.start()
        else:
            await self.bus.create_tables()

    async def stop(self) -> None:
        """Stop consuming and relaying (what is in flight finishes first)."""
        if self.enabled:
            await self.bus.stop()

    def readiness(self) -> str:
        """'ok' when every consumer is consuming."""
        waiting = [c.queue for c in self.bus.consumers if not c.ready.is_set()]
        return f"error: not consuming {', '.join(waiting)}" if waiting else "ok"


def compensation_data(catalog: EventCatalog, event_type: str) -> Any:
    """Builds a compensation event's data from the failed event: its same-named fields, the reason, and for
    required fields still missing the time now (date-time) or an ID derived from the failed event (uuid)."""
    schema = catalog.spec(event_type).schema
    properties: Mapping[str, Any] = schema.get("properties", {})

    def build(failed: Envelope, reason: str) -> dict[str, Any]:
        source = failed.data if isinstance(failed.data, dict) else {}
        data = {name: value for name, value in source.items() if name in properties}
        if "reason" in properties:
            data["reason"] = (reason or "failed")[: properties["reason"].get("maxLength", 200)]
        for name in schema.get("required", ()):
            if name not in data:
                data[name] = _filler(properties.get(name, {}), failed, name)
        return {name: value for name, value in data.items() if value is not None}

    return build


def _filler(schema: Mapping[str, Any], failed: Envelope, name: str) -> Any:
    """A value for a required field the failed event does not carry, when its format allows one."""
    if schema.get("format") == "date-time":
        return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if schema.get("format") == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"planforge:compensation:{failed.event_id}:{name}"))
    return None
