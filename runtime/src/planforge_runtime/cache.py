"""Cache-aside on Redis with the manifest's time to live, and invalidation by event.

A read that misses loads the value and stores it, but an invalidation may come between the load and the store
(an event's transaction commits and drops the entry while the read is loading the old row): storing then would
keep the old value for a whole TTL. So every entry has a generation (and the cache one for all its entries) that
an invalidation increments; a miss notes both before it loads, and stores only if neither moved (one Lua call).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from planforge_runtime.config import CacheConfig

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
        seen = await self._generations(key)
        value = await load()
        if value is not None and seen is not None:
            await self._store_unless_invalidated(key, value, seen, ttl)
        return value

    def _generation_keys(self, key: str) -> tuple[str, str]:
        return f"{self.prefix}~gen:{key}", f"{self.prefix}~gen"

    async def _generations(self, key: str) -> tuple[str, str] | None:
        """The entry's and the cache's generations now (None when Redis fails: then nothing is stored)."""
        try:
            entry, whole = await self.redis.mget(self._generation_keys(key))
        except RedisError as exc:
            _log.warning("cache read failed", extra={"cache": self.config.name, "error": str(exc)})
            return None
        return _text(entry), _text(whole)

    async def _store_unless_invalidated(
        self, key: str, value: BaseModel, seen: tuple[str, str], ttl: int | None
    ) -> None:
        seconds = ttl if ttl is not None else self.config.ttl_seconds
        keys = (self.key(key), *self._generation_keys(key))
        payload = value.model_dump_json(exclude_unset=True)
        try:
            await self.redis.eval(_STORE_UNLESS_INVALIDATED, 3, *keys, payload, seconds or 0, *seen)
        except RedisError as exc:
            _log.warning("cache write failed", extra={"cache": self.config.name, "error": str(exc)})

    async def store(self, key: str, value: BaseModel, *, ttl: int | None = None) -> None:
        """Put value in the cache (errors are logged, not raised: the cache is an optimisation)."""
        seconds = ttl if ttl is not None else self.config.ttl_seconds
        try:
            # Unset members stay unset when read back (an answer from the cache equals one from load()).
            await self.redis.set(self.key(key), value.model_dump_json(exclude_unset=True), ex=seconds)
        except RedisError as exc:
            _log.warning("cache write failed", extra={"cache": self.config.name, "error": str(exc)})

    async def invalidate(self, key: str) -> None:
        """Drop key from the cache, and move its generation on so that no read in flight stores an old value."""
        generation, _ = self._generation_keys(key)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(generation)
                pipe.expire(generation, _GENERATION_TTL)
                pipe.delete(self.key(key))
                await pipe.execute()
        except RedisError as exc:
            _log.warning("cache invalidation failed", extra={"cache": self.config.name, "error": str(exc)})

    async def invalidate_all(self) -> None:
        """Drop every entry of the cache (in this key space); reads in flight store nothing."""
        _, whole = self._generation_keys("")
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(whole)
                pipe.expire(whole, _GENERATION_TTL)
                await pipe.execute()
            batch: list[bytes] = []
            generations = (self.prefix + "~gen").encode()
            async for key in self.redis.scan_iter(match=_glob_escaped(self.prefix) + "*", count=500):
                if key.startswith(generations):  # kept: they are what stops reads in flight from storing
                    continue
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


# Generations outlive any entry written while they were current (a lost generation only turns a store into a miss).
_GENERATION_TTL = 7 * 86400
# KEYS: entry, its generation, the cache's generation; ARGV: value, ttl (0: none), the generations seen before loading.
_STORE_UNLESS_INVALIDATED = """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] or (redis.call('GET', KEYS[3]) or '') ~= ARGV[4] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _glob_escaped(text: str) -> str:
    """text matched literally by a Redis MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)
