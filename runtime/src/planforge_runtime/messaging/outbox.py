"""The transactional outbox: events stored with the state change that caused them, then relayed to the broker.

add_event() writes the event in the caller's transaction, so it exists exactly when the change does. The
OutboxRelay polls unpublished rows in order (FOR UPDATE SKIP LOCKED on PostgreSQL, so relays of several
replicas share the work), publishes them with confirms and marks them published. Rows stay until confirmed:
a broker outage only delays them (the relay backs off) and a restart finds them in the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.messaging.backoff import TRANSIENT, Backoff
from planforge_runtime.messaging.envelope import Envelope
from planforge_runtime.messaging.publisher import Publisher, PublishFailedError, event_message
from planforge_runtime.messaging.tables import outbox
from planforge_runtime.tracing import context_json, parent_context

__all__ = ["OutboxRelay", "add_event", "delete_published"]

_log = logging.getLogger("planforge.messaging.outbox")


async def add_event(session: AsyncSession, envelope: Envelope, exchange: str, routing_key: str) -> None:
    """Store the event in the session's transaction; it is published after (and only if) that commits."""
    now = datetime.now(UTC)
    await session.execute(
        insert(outbox).values(
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            exchange=exchange,
            routing_key=routing_key,
            payload=envelope.body().decode(),
            correlation_id=envelope.correlation_id,
            trace_context=context_json(),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


async def delete_published(session: AsyncSession, before: datetime) -> int:
    """Delete rows published before the given time; returns how many (the caller commits)."""
    result = await session.execute(delete(outbox).where(outbox.c.published_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxRelay:
    """Publishes committed outbox rows in batches until stopped; never gives up on a row."""

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        publisher: Publisher,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
        retention: float = 7 * 86400.0,
    ) -> None:
        self.sessions = sessions
        self.retention = retention
        # Pruning runs at most this often: a tenth of the retention, between the poll interval and ten minutes.
        self.prune_interval = max(poll_interval, min(retention / 10, 600.0))
        self._next_prune = 0.0
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff(deadline=None)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Look for rows now rather than at the next poll (called when a transaction with events commits)."""
        self._wake.set()

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Wake the relay when the session's current transaction commits."""
        event.listen(session.sync_session, "after_commit", lambda _session: self.wake(), once=True)

    def start(self) -> None:
        """Run the relay as a background task."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name="planforge-outbox-relay")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop after the batch in hand (cancelled if that takes longer than grace); unpublished rows stay."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self.wake()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Relay until stopped: a full batch is followed at once by the next, failures back off exponentially."""
        failures = 0
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
                await self._prune_when_due()
            except Exception as exc:  # broker or database down: keep the rows, wait, try again
                failures += 1
                delay = self.backoff.delay(failures)
                _log.warning("outbox relay failed (%s: %s); retrying in %.2fs", type(exc).__name__, exc, delay)
                with contextlib.suppress(TimeoutError):  # new rows do not cut the backoff short, stopping does
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            failures = 0
            if published < self.batch_size:
                await self._idle(self.poll_interval)

    async def prune_once(self) -> int:
        """Delete the rows published longer than the retention ago; how many."""
        async with self.sessions() as session, session.begin():
            return await delete_published(session, datetime.now(UTC) - timedelta(seconds=self.retention))

    async def _prune_when_due(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.prune_interval
        deleted = await self.prune_once()
        if deleted:
            _log.info("deleted %d published outbox rows older than %.0fs", deleted, self.retention)

    async def relay_once(self) -> int:
        """Publish one batch of due rows; how many were confirmed. Raises when the broker cannot be reached."""
        await self.publisher.channel()
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(self._due(session))).all()
            if not rows:
                return 0
            results = await asyncio.gather(*(self._send(row) for row in rows), return_exceptions=True)
            await self._record(session, rows, results)
        broken = [r for r in results if isinstance(r, BaseException) and not isinstance(r, PublishFailedError)]
        if broken and len(broken) == len(rows):
            raise broken[0]
        return sum(r is None for r in results)

    def _due(self, session: AsyncSession) -> Any:
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.next_attempt_at <= datetime.now(UTC))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return query

    async def _send(self, row: Row[Any]) -> None:
        message = event_message(
            row.payload.encode(),
            event_id=row.event_id,
            event_type=row.event_type,
            correlation_id=row.correlation_id,
            timestamp=_utc(row.created_at),
        )
        # The relay's span continues the trace of the transaction that staged the row (the request, or the consumer).
        await self.publisher.send(row.exchange, row.routing_key, message, parent=parent_context(row.trace_context))

    async def _record(self, session: AsyncSession, rows: Sequence[Row[Any]], results: Sequence[Any]) -> None:
        """Mark confirmed rows published; count the attempt of the others, delaying rows the broker refused."""
        now = datetime.now(UTC)
        done = [row.id for row, result in zip(rows, results, strict=True) if result is None]
        if done:
            await session.execute(
                update(outbox).where(outbox.c.id.in_(done)).values(published_at=now, attempts=outbox.c.attempts + 1)
            )
        for row, result in zip(rows, results, strict=True):
            if result is not None:
                await session.execute(update(outbox).where(outbox.c.id == row.id).values(**self._failure(row, result)))

    def _failure(self, row: Row[Any], error: BaseException) -> dict[str, Any]:
        values: dict[str, Any] = {"attempts": row.attempts + 1, "last_error": f"{type(error).__name__}: {error}"}
        if not isinstance(error, TRANSIENT):  # refused or unroutable: this row waits, the others go on
            delay = self.backoff.delay(row.attempts + 1)
            values["next_attempt_at"] = datetime.now(UTC) + timedelta(seconds=delay)
            _log.error(
                "outbox event %s not published (%s); next try in %.1fs", row.event_id, values["last_error"], delay
            )
        return values

    async def _idle(self, seconds: float) -> None:
        """Wait for the given time, or until woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
