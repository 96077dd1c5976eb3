"""The messaging tables a service with a database keeps: the outbox and the processed events.

They live in their own MetaData so a service can create them (create_tables) or add them to its migrations.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["create_missing", "create_tables", "metadata", "outbox", "processed_events"]

metadata = MetaData()

# One row per event to publish, written in the transaction of the state change it reports.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("event_type", String(255), nullable=False),
    Column("exchange", String(255), nullable=False),
    Column("routing_key", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("correlation_id", String(128), nullable=False),
    # The W3C trace context (JSON headers) of the transaction that staged the event; the relay continues it.
    Column("trace_context", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
)

# The relay's query: unpublished rows in order, kept small by a partial index.
Index(
    "outbox_unpublished",
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)

# One row per event a consumer handled, written in the transaction of the handler's effects.
processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("queue", String(255), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)


async def create_tables(engine: AsyncEngine) -> None:
    """Create the messaging tables that do not exist yet."""
    async with engine.begin() as connection:
        await connection.run_sync(create_missing)


def create_missing(connection: Connection) -> None:
    """Create missing tables, and add the outbox columns newer than an existing table (trace_context)."""
    metadata.create_all(connection, checkfirst=True)
    present = {c["name"] for c in inspect(connection).get_columns("outbox")}
    if "trace_context" not in present:
        connection.execute(text("ALTER TABLE outbox ADD COLUMN trace_context TEXT"))
