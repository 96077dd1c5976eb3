"""The audit log: every state-changing request and every event a service consumes or publishes, recorded in an
append-only store that the service owns.

A record holds when, what kind (request, consumed, published), the operation (operation id, or event type and
queue), the outcome (HTTP status, or ok/duplicate/retry/dead-lettered), the correlation ID and the subject (the
token's ``sub``). It never holds a payload, a header or a concrete path (a path can carry an email): the route
template stands in for it, so PII cannot reach the log.

Where the service owns a database, records go to its ``planforge_audit`` table, which the database itself keeps
append-only (triggers, created by the runtime's migration planforge_0001, refuse UPDATE, DELETE and, on
PostgreSQL, TRUNCATE); a record of an event staged in the
outbox is written in the same transaction. Otherwise they go to the Redis stream ``<prefix>planforge:audit``
(XADD only), or, with neither, to the ``planforge.audit`` logger as JSON lines.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planforge_runtime.correlation import current_correlation_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "STATE_CHANGING",
    "AuditLog",
    "AuditMiddleware",
    "AuditRecord",
    "LoggerAuditLog",
    "RedisAuditLog",
    "SqlAuditLog",
    "audit_table",
]

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_log = logging.getLogger("planforge.audit")

audit_metadata = MetaData()
audit_table = Table(
    "planforge_audit",
    audit_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("operation", String(255), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("correlation_id", String(128), nullable=True),
    Column("subject", String(255), nullable=True),
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited action; never a payload, a header or a concrete path."""

    at: datetime
    kind: str
    operation: str
    outcome: str
    correlation_id: str | None
    subject: str | None

    @classmethod
    def now(cls, kind: str, operation: str, outcome: str, subject: str | None = None) -> AuditRecord:
        """A record of an action just done, with the correlation ID of the request or event being handled."""
        return cls(datetime.now(UTC), kind, operation, outcome, current_correlation_id(), subject)


class AuditLog(Protocol):
    """An append-only store of audit records."""

    async def append(self, record: AuditRecord, session: AsyncSession | None = None) -> None:
        """Add a record (in session's transaction when given and the store is that database)."""


class SqlAuditLog:
    """Records in the service's own database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, record: AuditRecord, session: AsyncSession | None = None) -> None:
        """Insert the record; inside session's transaction when one is given (it commits with the change)."""
        statement = insert(audit_table).values(**asdict(record))
        if session is not None:
            await session.execute(statement)
            return
        async with self.engine.begin() as connection:
            await connection.execute(statement)


class RedisAuditLog:
    """Records in a Redis stream, added with XADD and never trimmed."""

    def __init__(self, redis: Redis, prefix: str = "") -> None:
        self.redis = redis
        self.key = f"{prefix}planforge:audit"

    async def append(self, record: AuditRecord, session: AsyncSession | None = None) -> None:
        """XADD the record's fields (empty strings for missing ones)."""
        fields = {k: ("" if v is None else v.isoformat() if isinstance(v, datetime) else v) for k, v in _fields(record)}
        await self.redis.xadd(self.key, fields)  # type: ignore[arg-type]


class LoggerAuditLog:
    """Records as JSON lines on the planforge.audit logger, for services with no store of their own."""

    async def append(self, record: AuditRecord, session: AsyncSession | None = None) -> None:
        """Log the record as one JSON object."""
        _log.info("%s", json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in _fields(record)}))


def _fields(record: AuditRecord) -> list[tuple[str, Any]]:
    return list(asdict(record).items())


class AuditMiddleware:
    """Records every state-changing request once its response status is known.

    The operation is the route's operation id when a route matched (set by the routing layer as
    ``scope["planforge.operation"]``), else the route template, else the method alone; the subject is the
    verified token's ``sub`` (``scope["planforge.subject"]``), set by the authentication dependency.
    """

    def __init__(self, app: ASGIApp, log: AuditLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; afterwards append its record (a failing audit store fails loudly in the logs)."""
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            record = AuditRecord.now("request", _operation(scope), str(status["code"]), scope.get("planforge.subject"))
            try:
                await self.log.append(record)
            except Exception:  # the response is already sent: say so loudly, do not hide it
                _log.exception("could not append the audit record of %s", record.operation)


def _operation(scope: Scope) -> str:
    operation = scope.get("planforge.operation")
    if isinstance(operation, str):
        return operation
    route = scope.get("route")
    template = getattr(route, "path", None)
    return f"{scope['method']} {template}" if isinstance(template, str) else str(scope["method"])
