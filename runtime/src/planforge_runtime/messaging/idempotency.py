"""Idempotency by eventId: a consumer's effect happens once however often an event is delivered.

Each store gives ``processing(event_id, queue)``, an async context manager that says whether the event was
already processed and, when it was not, records it as processed only if the block finishes without raising:

- SqlIdempotency: a processed_events row written in the same transaction as the handler's effects (the
  handler gets the session), so the effect and the record commit or roll back together.
- RedisIdempotency: a key claimed with SET NX (a lease while the handler runs), then marked done with a TTL.
- MemoryIdempotency: an in-process LRU, for services with neither; it forgets on restart.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import DateTime, String, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from planforge_runtime.messaging.tables import processed_events

__all__ = [
    "EventInProgressError",
    "IdempotencyStore",
    "MemoryIdempotency",
    "Processing",
    "RedisIdempotency",
    "SqlBatch",
    "SqlIdempotency",
]

_DONE = b"done"

# A batch's claim: one statement whatever the batch's size (the event IDs travel as one array), so SQLAlchemy
# compiles it once and the driver prepares it once, where a multi-row VALUES is a new statement for every size.
_CLAIM = (
    postgresql_insert(processed_events)
    .from_select(
        ["event_id", "queue", "processed_at"],
        select(
            func.unnest(bindparam("event_ids", type_=ARRAY(String))),
            bindparam("queue", type_=String),
            bindparam("processed_at", type_=DateTime(timezone=True)),
        ),
    )
    .on_conflict_do_nothing()
    .returning(processed_events.c.event_id)
)


class EventInProgressError(RuntimeError):
    """Another delivery of the same event is being handled and did not finish in time; try again later."""


@dataclass(frozen=True, slots=True)
class Processing:
    """What a store says about a delivery: a duplicate to skip, or new, with the session to work in (SQL only)."""

    duplicate: bool
    session: AsyncSession | None = None
    # In a batch: the batch's session, whose commit makes the delivery's effects durable (session's only
    # releases its savepoint), so what waits for the commit (the relay's wake-up) listens to it.
    batch_session: AsyncSession | None = None


class IdempotencyStore(Protocol):
    """Where a consumer records the events it processed."""

    def processing(self, event_id: str, queue: str) -> AbstractAsyncContextManager[Processing]:
        """Claim the event for the duration of the block; recorded as processed when the block succeeds."""
        ...


class SqlIdempotency:
    """processed_events rows in the service's database, in the handler's own transaction."""

    def __init__(self, sessions: Callable[[], AsyncSession]) -> None:
        self.sessions = sessions

    @asynccontextmanager
    async def processing(self, event_id: str, queue: str) -> AsyncIterator[Processing]:
        """A duplicate when the row exists (or a concurrent delivery commits it first); else the open session."""
        async with self.sessions() as session:
            record = insert(processed_events).values(event_id=event_id, queue=queue, processed_at=datetime.now(UTC))
            try:
                await session.execute(record)
            except IntegrityError:
                await session.rollback()
                yield Processing(duplicate=True)
                return
            yield Processing(duplicate=False, session=session)
            await session.commit()

    def batches(self) -> bool:
        """True when deliveries can share a transaction (savepoints per delivery): PostgreSQL, not SQLite."""
        session = self.sessions()
        try:
            return bool(session.get_bind().dialect.name == "postgresql")
        finally:
            session.sync_session.close()

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[SqlBatch]:
        """A transaction for several deliveries; it commits when the block ends without raising."""
        async with self.sessions() as session, session.begin():
            yield SqlBatch(session)


class SqlBatch:
    """One transaction for a batch of deliveries: a SAVEPOINT per delivery, so one failure undoes only its own.

    claim() records all the batch's events in one statement first (PostgreSQL's INSERT .. ON CONFLICT DO
    NOTHING); a delivery whose event was not claimed by it is a duplicate. Each delivery gets a session of
    its own on the batch's connection, whose SAVEPOINT is begun when the handler first uses it: a handler
    that never touches the database costs no statement (and leaves its session, as new, to the next delivery
    instead of a session made for each). A failing delivery's savepoint is rolled back and its claim deleted,
    so a retry can process it.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._claimed: set[tuple[str, str]] | None = None
        self._connection: AsyncConnection | None = None
        self._unused: AsyncSession | None = None  # a delivery's session that it never used

    async def connection(self) -> AsyncConnection:
        """The batch's connection (asked of the session once: each ask is a trip through SQLAlchemy's greenlet)."""
        if self._connection is None:
            self._connection = await self.session.connection()
        return self._connection

    async def claim(self, event_ids: list[str], queue: str) -> None:
        """Record the events as processed (in this transaction); the ones already recorded are duplicates."""
        unique = list(dict.fromkeys(event_ids))
        connection = await self.connection()  # Core, not the ORM: one statement, no identity map
        result = await connection.execute(
            _CLAIM, {"event_ids": unique, "queue": queue, "processed_at": datetime.now(UTC)}
        )
        self._claimed = {(event_id, queue) for event_id in result.scalars()}

    @asynccontextmanager
    async def processing(self, event_id: str, queue: str) -> AsyncIterator[Processing]:
        """As SqlIdempotency.processing, inside the delivery's savepoint; recorded when the batch commits."""
        if self._claimed is not None:
            if (event_id, queue) not in self._claimed:  # recorded before, or by an earlier copy in this batch
                yield Processing(duplicate=True)
                return
            self._claimed.discard((event_id, queue))
        session, self._unused = self._unused or _joining(self.session, await self.connection()), None
        try:
            if self._claimed is None and not await _recorded(session, event_id, queue):
                yield Processing(duplicate=True)
                return
            try:
                yield Processing(duplicate=False, session=session, batch_session=self.session)
                if _used(session):
                    await session.commit()  # releases the savepoint into the batch's transaction
            except BaseException:
                if _used(session):
                    await session.rollback()  # to the savepoint: the other deliveries' effects stay
                if self._claimed is not None:
                    await self._unclaim(event_id, queue)
                raise
        finally:
            if _used(session):
                await session.close()
            elif not session.identity_map:  # nothing loaded either: as good as new
                self._spare(session)

    def _spare(self, session: AsyncSession) -> None:
        """Keep a session its delivery left as new (no transaction, nothing loaded) for the next delivery;
        its info is set back to the batch's."""
        session.info.clear()
        session.info.update(self.session.sync_session.info)
        self._unused = session

    async def _unclaim(self, event_id: str, queue: str) -> None:
        connection = await self.connection()
        await connection.execute(
            delete(processed_events).where(processed_events.c.event_id == event_id, processed_events.c.queue == queue)
        )


def _joining(like: AsyncSession, connection: AsyncConnection) -> AsyncSession:
    """A session made like the batch's (its class and settings) on the batch's connection, joining its
    transaction with a SAVEPOINT that it begins at its first statement."""
    settings = like.sync_session
    return type(like)(
        bind=connection,
        join_transaction_mode="create_savepoint",
        sync_session_class=type(settings),
        expire_on_commit=settings.expire_on_commit,
        autoflush=settings.autoflush,
        info=dict(settings.info),
    )


def _used(session: AsyncSession) -> bool:
    """True when the session began its savepoint or holds changes not yet flushed (which would begin it).

    Adding an object begins the session, so changes outside a transaction can only be to objects it loaded
    (changed after a commit of the handler's): with an empty identity map there are none, and the change sets,
    which are built anew on every ask, need not be built for the deliveries that never touch the database.
    """
    if session.in_transaction():
        return True
    return bool(session.identity_map) and bool(session.new or session.deleted or session.dirty)


async def _recorded(session: AsyncSession, event_id: str, queue: str) -> bool:
    """Record one event in the delivery's savepoint; False when it was recorded before (a duplicate)."""
    record = insert(processed_events).values(event_id=event_id, queue=queue, processed_at=datetime.now(UTC))
    try:
        await session.execute(record)
    except IntegrityError:
        await session.rollback()
        return False
    return True


class RedisIdempotency:
    """Redis keys ``<prefix><queue>:<eventId>``: 'pending' (leased) while handled, 'done' for ttl seconds after."""

    def __init__(
        self, redis: Redis, *, prefix: str = "planforge:processed:", ttl: float = 7 * 86400, lease: float = 30.0
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl
        self.lease = lease

    @asynccontextmanager
    async def processing(self, event_id: str, queue: str) -> AsyncIterator[Processing]:
        """A duplicate when the key says done; waits for a pending claim of another delivery, up to the lease."""
        key = f"{self.prefix}{queue}:{event_id}"
        if not await self._claim(key):
            yield Processing(duplicate=True)
            return
        try:
            yield Processing(duplicate=False)
        except BaseException:
            await self.redis.delete(key)
            raise
        await self.redis.set(key, _DONE, px=round(self.ttl * 1000))

    async def _claim(self, key: str) -> bool:
        """True when claimed for this delivery, False when already done."""
        deadline = time.monotonic() + self.lease
        while time.monotonic() < deadline:
            if await self.redis.set(key, b"pending", nx=True, px=round(self.lease * 1000)):
                return True
            if await self.redis.get(key) == _DONE:
                return False
            await asyncio.sleep(0.05)
        raise EventInProgressError(key)


class MemoryIdempotency:
    """The last max_events processed event IDs per queue, in memory; concurrent duplicates wait for each other."""

    def __init__(self, max_events: int = 100_000, wait: float = 30.0) -> None:
        self.max_events = max_events
        self.wait = wait
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Event] = {}

    @asynccontextmanager
    async def processing(self, event_id: str, queue: str) -> AsyncIterator[Processing]:
        """A duplicate when remembered; otherwise claimed until the block ends, remembered if it succeeds."""
        key = (queue, event_id)
        if not await self._claim(key):
            yield Processing(duplicate=True)
            return
        finished = self._pending[key] = asyncio.Event()
        try:
            yield Processing(duplicate=False)
            self._remember(key)
        finally:
            del self._pending[key]
            finished.set()

    async def _claim(self, key: tuple[str, str]) -> bool:
        while (running := self._pending.get(key)) is not None:
            try:
                await asyncio.wait_for(running.wait(), self.wait)
            except TimeoutError as exc:
                raise EventInProgressError(f"{key[0]}:{key[1]}") from exc
        if key in self._done:
            self._done.move_to_end(key)
            return False
        return True

    def _remember(self, key: tuple[str, str]) -> None:
        self._done[key] = None
        while len(self._done) > self.max_events:
            self._done.popitem(last=False)
