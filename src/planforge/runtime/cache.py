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
            await self.redis.set(self.key(key), value.model_dump_json(), ex=seconds)
        except RedisError as exc:
            _log.warning("cache write failed", extra={"cache": self.config.name, "error": str(exc)})

    async def invalidate(self, key: str) -> None:
        """Drop key from the cache."""
        try:
            await self.redis.delete(self.key(key))
        except RedisError as exc:
            _log.warning("cache invalidation failed", extra={"cache": self.config.name, "error": str(exc)})

    def invalidated_by(self, event: str) -> bool:
        """True when the manifest says event invalidates this cache."""
        return event in self.config.invalidated_by
