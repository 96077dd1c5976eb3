"""Isolation on the shared servers: a fresh PostgreSQL database and Redis key prefix per test run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"

__all__ = ["ADMIN_DSN", "REDIS_URL", "fresh_database", "fresh_redis_prefix"]


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL; its URL; dropped afterwards (connections cut)."""
    name = f"pf_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _drop_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextmanager
def fresh_redis_prefix() -> Iterator[str]:
    """A key prefix no other run uses; every key under it is deleted afterwards."""
    prefix = f"pf-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        asyncio.run(_drop_keys(prefix))
