"""The connections a service holds: SQL engine and sessions, Redis, AMQP, caches, HTTP client; and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from planforge_runtime.audit import AuditLog, LoggerAuditLog, RedisAuditLog, SqlAuditLog
from planforge_runtime.auth import TokenIssuer, TokenVerifier
from planforge_runtime.breaker import http_client
from planforge_runtime.cache import CacheAside
from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.tracing import instrument_client

__all__ = ["Resources"]


class Resources:
    """Created once per app; every connection is opened lazily, on first use."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.verifier = TokenVerifier(config, settings)
        self.issuer = TokenIssuer(config, settings)
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._redis: Redis | None = None
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_cache_lookup: Callable[[str, bool], None] | None = None  # the app's metrics count hits and misses

    def _on_this_loop(self) -> None:
        """Connections belong to one event loop; a test client may run each request on a new one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is not self._loop:
            self._loop = loop
            self._engine, self._sessions, self._redis, self._http = None, None, None, None

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy async engine (DATABASE_URL, or a local SQLite file)."""
        self._on_this_loop()
        if self._engine is None:
            self._engine = create_async_engine(
                self.settings.sql_url(self.config), pool_pre_ping=True, hide_parameters=True
            )
        return self._engine

    def session(self) -> AsyncSession:
        """A new SQLAlchemy async session; use it as `async with resources.session() as session:`."""
        engine = self.engine
        if self._sessions is None:
            self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        return self._sessions()

    @property
    def redis(self) -> Redis:
        """The Redis client (REDIS_URL)."""
        self._on_this_loop()
        if self._redis is None:
            self._redis = Redis.from_url(self.settings.redis_url, socket_timeout=self.settings.readiness_timeout)
        return self._redis

    @property
    def http(self) -> httpx.AsyncClient:
        """The client for calls to other services, behind the circuit breaker (over mutual TLS with TLS_*)."""
        self._on_this_loop()
        if self._http is None:
            tls = self.settings.client_tls()
            self._http = http_client(
                self.config.breaker,
                timeout=self.config.call_timeout,
                inner=httpx.AsyncHTTPTransport(verify=tls) if tls else None,
                correlation_header=self.config.correlation_header,
            )
            instrument_client(self._http)
        return self._http

    @property
    def audit(self) -> AuditLog:
        """Where the audit log goes: the service's own database, else its Redis, else the planforge.audit logger."""
        if self.config.owns_database:
            return SqlAuditLog(self.engine)
        if self.config.uses("redis"):
            return RedisAuditLog(self.redis, self.settings.redis_key_prefix + self.config.name + ":")
        return LoggerAuditLog()

    def cache(self, name: str, *, owner: str | None = None) -> CacheAside:
        """The cache-aside helper for a cache the manifest declares, in this service's key space (or owner's:
        the service whose routes read through it, when this one invalidates its entries on an event)."""
        config = next((c for c in self.config.caches if c.name == name), None)
        if config is None:
            raise KeyError(f"the manifest declares no cache {name!r}")
        return CacheAside(
            self.redis, config, self.settings.redis_key_prefix + (owner or self.config.name), self.on_cache_lookup
        )

    def _checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        checks: dict[str, Callable[[], Awaitable[None]]] = {}
        for store in self.config.datastores:
            if store.kind == "postgres" and store.owned:
                checks[store.name] = self._check_sql
            elif store.kind == "redis":
                checks[store.name] = self._check_redis
            elif store.kind == "rabbitmq":
                checks[store.name] = self._check_amqp
        return checks

    async def _check_sql(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _check_redis(self) -> None:
        await self.redis.ping()

    async def _check_amqp(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.settings.amqp_url, timeout=self.settings.readiness_timeout)
        await connection.close()

    async def readiness(self) -> dict[str, str]:
        """Each datastore the service uses: 'ok' or what went wrong."""
        checks = self._checks()
        results = await asyncio.gather(*(self._timed(check) for check in checks.values()))
        return dict(zip(checks, results, strict=True))

    async def _timed(self, check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), self.settings.readiness_timeout)
        except Exception as exc:  # any failure means not ready; say which
            return f"error: {type(exc).__name__}: {exc}".rstrip(": ")
        return "ok"

    async def close(self) -> None:
        """Close whatever was opened (on this event loop: others' connections cannot be closed from here)."""
        self._on_this_loop()
        if self._http is not None:
            await self._http.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        if self._engine is not None:
            await self._engine.dispose()
