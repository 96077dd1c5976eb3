"""Cache-aside on the real Redis: a read that loads while the entry is invalidated never stores the old value."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from planforge_runtime.cache import CacheAside
from planforge_runtime.config import CacheConfig
from pydantic import BaseModel
from redis.asyncio import Redis

from tests.datastores import fresh_redis_prefix

pytestmark = [pytest.mark.services]


class Profile(BaseModel):
    """A cached value."""

    name: str


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh Redis key prefix, its keys deleted afterwards."""
    with fresh_redis_prefix() as fresh:
        yield fresh


@pytest_asyncio.fixture
async def cache(prefix: str) -> AsyncIterator[CacheAside]:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    yield CacheAside(redis, CacheConfig("profiles", 300, ("user.updated",)), prefix + "svc")
    await redis.aclose()


async def _cached(cache: CacheAside, key: str) -> bytes | None:
    value: bytes | None = await cache.redis.get(cache.key(key))
    return value


@pytest.mark.asyncio
async def test_a_miss_is_stored_and_then_served(cache: CacheAside) -> None:
    loads: list[str] = []

    async def load() -> Profile:
        loads.append("db")
        return Profile(name="ada")

    assert await cache.read_through("1", Profile, load) == Profile(name="ada")
    assert await cache.read_through("1", Profile, load) == Profile(name="ada")
    assert loads == ["db"]


@pytest.mark.asyncio
async def test_an_invalidation_during_the_load_keeps_the_old_value_out(cache: CacheAside) -> None:
    """The race: the read loads the old row, the event's commit drops the entry, then the read would store."""

    async def load_while_the_row_changes() -> Profile:
        await cache.invalidate("1")  # the consumer commits the new row and drops the entry meanwhile
        return Profile(name="old")

    assert await cache.read_through("1", Profile, load_while_the_row_changes) == Profile(name="old")
    assert await _cached(cache, "1") is None

    async def load_new() -> Profile:
        return Profile(name="new")

    assert await cache.read_through("1", Profile, load_new) == Profile(name="new")
    assert await cache.read_through("1", Profile, load_new) == Profile(name="new")
    assert await _cached(cache, "1") is not None


@pytest.mark.asyncio
async def test_clearing_the_whole_cache_during_a_load_keeps_the_old_value_out(cache: CacheAside) -> None:
    async def load_while_everything_changes() -> Profile:
        await cache.invalidate_all()
        return Profile(name="old")

    await cache.read_through("2", Profile, load_while_everything_changes)
    assert await _cached(cache, "2") is None
    await cache.read_through("2", Profile, load_while_everything_changes)  # each load clears again
    assert await _cached(cache, "2") is None
