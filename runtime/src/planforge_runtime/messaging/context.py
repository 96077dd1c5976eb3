"""What a consumer handler gets besides the event: its session (when the service has a database) and emit()."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.messaging.envelope import Envelope, EventCatalog
from planforge_runtime.messaging.outbox import add_event
from planforge_runtime.messaging.publisher import Publisher

if TYPE_CHECKING:
    from planforge_runtime.resources import Resources

__all__ = ["EventContext"]


@dataclass(slots=True)
class EventContext:
    """The delivery being handled: queue, attempt (1-based) and the session of the handler's transaction.

    With a session, the event's effects, its processed_events row and any emitted events commit together.
    """

    envelope: Envelope
    queue: str
    attempt: int
    session: AsyncSession | None
    catalog: EventCatalog
    publisher: Publisher
    on_staged: Callable[[AsyncSession], None] | None = None
    # The service's connections (Redis, caches, settings), set when a generated service runs the handler.
    resources: Resources | None = None
    _emitted: int = field(default=0, init=False)

    @property
    def correlation_id(self) -> str:
        """The correlation ID of the event being handled, carried on by emitted events."""
        return self.envelope.correlation_id

    async def emit(self, event_type: str, data: Any) -> Envelope:
        """Publish a follow-up event: into the outbox in the handler's transaction when there is a session,
        else directly with confirms. Its eventId derives from the handled event's, so a retried handler
        emits the same IDs and downstream consumers see duplicates, not new events."""
        self._emitted += 1
        seed = f"planforge:emit:{self.queue}:{self.envelope.event_id}:{self._emitted}:{event_type}"
        envelope = self.catalog.envelope(
            event_type, data, correlation_id=self.correlation_id, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
        )
        spec = self.catalog.spec(event_type)
        if self.session is not None:
            await add_event(self.session, envelope, spec.exchange, spec.routing_key)
            if self.on_staged is not None:
                self.on_staged(self.session)
        else:
            await self.publisher.publish(envelope, spec.exchange, spec.routing_key)
        return envelope
