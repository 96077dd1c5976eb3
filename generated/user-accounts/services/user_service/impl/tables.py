"""The user-service's table, and turning its rows into the API's User (auth-service keeps the credentials)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid

from .. import models

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives datetimes back without their zone; they were stored in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def to_user(row: Any) -> models.User:
    """The API's view of a users row."""
    user = models.User(
        id=row.id,
        email=row.email,
        displayName=row.display_name,
        createdAt=_aware(row.created_at),
        version=row.version,
    )
    if row.last_login_at is not None:  # left unset otherwise: the schema has no null
        user.lastLoginAt = _aware(row.last_login_at)
    return user
