"""Cache-aside on Redis with the manifest's time to live, and invalidation by event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from planforge.runtime.config import CacheConfig

__all__ = ["CacheAside"]

M = TypeVar("M", bound=BaseModel)
_log = logging.getLogger("planforge.cache")


class CacheAside:
    """Reads through Redis: a hit is parsed, a miss is loaded and stored; Redis trouble falls back to loading."""

    def __init__(
        self, redis: Redis, config: CacheConfig, prefix: str, on_lookup: Callable[[str, bool], None] | None = None
    ) -> None:
        self.redis = redis
        self.config = config
        self.on_lookup = on_lookup  # told (cache name, hit) for every read that reached Redis
        self.prefix = f"{prefix}:{config.name}:"

    def key(self, key: str) -> str:
        """The Redis key of an entry."""
        return self.prefix + key

    @staticmethod
    def entry_key(*values: object) -> str:
        """The key of a cached route's entry: its path parameters' values, in path order, joined with '/'.

        Events that invalidate the cache name the entry with the same values, so read through with this key."""
        return "/".join(str(value) for value in values)

    async def read_through(
        self, key: str, model: type[M], load: Callable[[], Awaitable[M | None]], *, ttl: int | None = None
    ) -> M | None:
        """The cached value of key, else load() stored with the cache's TTL (or ttl, for until-expiry caches)."""
        try:
            cached = await self.redis.get(self.key(key))
        except RedisError as exc:
            _log.warning("cache read failed", extra={"cache": self.config.name, "error": str(exc)})
            return await load()
        if self.on_lookup is not None:
            self.on_lookup(self.config.name, cached is not None)
        if cached is not None:
            return model.model_validate_json(cached)
        value = await load()
        if value is not None:
            await self.store(key, value, ttl=ttl)
        return value

    async def store(self, key: str, value: BaseModel, *, ttl: int | None = None) -> None:
        """Put value in the cache (errors are logged, not raised: the cache is an optimisation)."""
        seconds = ttl if ttl is not None else self.config.ttl_seconds
        try:
            # Unset members stay unset when read back (an answer from the cache equals one from load()).
            await self.redis.set(self.key(key), value.model_dump_json(exclude_unset=True), ex=seconds)
        except RedisError as exc:
            _log.warning("cache write failed", extra={"cache": self.config.name, "error": str(exc)})

    async def invalidate(self, key: str) -> None:
        """Drop key from the cache."""
        try:
            await self.redis.delete(self.key(key))
        except RedisError as exc:
            _log.warning("cache invalidation failed", extra={"cache": self.config.name, "error": str(exc)})

    async def invalidate_all(self) -> None:
        """Drop every entry of the cache (in this key space)."""
        try:
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(match=_glob_escaped(self.prefix) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self.redis.delete(*batch)
                    batch.clear()
            if batch:
                await self.redis.delete(*batch)
        except RedisError as exc:
            _log.warning("cache invalidation failed", extra={"cache": self.config.name, "error": str(exc)})

    def invalidated_by(self, event: str) -> bool:
        """True when the manifest says event invalidates this cache."""
        return event in self.config.invalidated_by


def _glob_escaped(text: str) -> str:
    """text matched literally by a Redis MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)
