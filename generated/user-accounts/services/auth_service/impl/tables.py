"""The auth-service's table: how each user signs in."""

from sqlalchemy import Column, MetaData, String, Table, Uuid

metadata = MetaData()

credentials = Table(
    "credentials",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
)
