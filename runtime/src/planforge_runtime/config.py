"""What a generated service tells the runtime: its manifest facts (ServiceConfig) and its environment (Settings)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BreakerConfig", "CacheConfig", "DatastoreConfig", "ServiceConfig", "Settings", "async_sql_url"]


@dataclass(frozen=True, slots=True)
class DatastoreConfig:
    """A datastore the service uses: its manifest name and kind (postgres, redis or rabbitmq)."""

    name: str
    kind: str
    owned: bool = False


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """A cache: its name, time to live (None: until the entry's own expiry) and invalidating events."""

    name: str
    ttl_seconds: int | None
    invalidated_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Circuit breaker settings: failure ratio that opens it, window and half-open delay in seconds."""

    failure_rate: float = 0.5
    window: float = 60.0
    half_open_after: float = 30.0
    minimum_calls: int = 10


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The facts of one service, computed by planforge from the manifest and printed into app.py."""

    name: str
    title: str
    package: str
    summary: str = ""
    version: str = "1.0.0"
    datastores: tuple[DatastoreConfig, ...] = ()
    jwt_algorithms: tuple[str, ...] = ("RS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Seconds of clock skew on exp and nbf: the manifest's gateway.authentication.jwt.leeway, as in the gateway.
    jwt_leeway: int = 30
    pii_fields: tuple[str, ...] = ()
    caches: tuple[CacheConfig, ...] = ()
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    correlation_header: str = "X-Correlation-ID"
    # Seconds an outgoing HTTP call may take (the manifest's resilience.timeout).
    call_timeout: float = 5.0
    # Published outbox rows older than this are deleted by the relay (the manifest's broker.outbox_retention).
    outbox_retention_seconds: float = 7 * 86400.0

    def uses(self, kind: str) -> bool:
        """True when the service uses a datastore of that kind."""
        return any(d.kind == kind for d in self.datastores)

    @property
    def owns_database(self) -> bool:
        """True when the service owns a postgres datastore (and so gets a SQL session)."""
        return any(d.kind == "postgres" and d.owned for d in self.datastores)


class Settings(BaseSettings):
    """Settings from the environment; defaults point at services on this machine.

    DATABASE_URL unset means a SQLite file named after the service in the working folder, so a
    service runs locally without a database server.
    """

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_key_prefix: str = ""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    jwt_public_key: str | None = None
    jwt_private_key: str | None = None
    jwt_secret: str | None = None
    # A folder with a verifying key per algorithm (jwt-rs256.pem, jwt-es256.pem, jwt-hs256.secret), for
    # features that pin several algorithms; JWT_PUBLIC_KEY and JWT_SECRET still serve one algorithm.
    jwt_keys_dir: str | None = None
    # Key rotation: a JWKS file read on every token (keys chosen by "kid"); replaces the keys above when set.
    jwt_jwks_file: str | None = None
    # The "kid" the issuing service puts in the tokens it signs (the newest key of the JWKS file).
    jwt_kid: str | None = None
    jwt_ttl_seconds: int = 900
    # Mutual TLS: calls to other services present this certificate and trust only this CA (PEM files).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    log_level: str = "INFO"
    readiness_timeout: float = 2.0
    # EVENTS=false: no broker connection (no topology, relay or consumers); staged events wait in the outbox.
    events: bool = True
    # MIGRATE_ON_START=false: the service does not apply its migrations when it starts (a job did it before).
    migrate_on_start: bool = True

    def client_tls(self) -> ssl.SSLContext | None:
        """The TLS context of calls to other services: the service's certificate and the CA; None without TLS_*."""
        if not (self.tls_cert_file and self.tls_key_file and self.tls_ca_file):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca_file)
        context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        return context

    def sql_url(self, config: ServiceConfig) -> str:
        """The SQLAlchemy async URL: DATABASE_URL, a plain postgres URL made async, or a local SQLite file."""
        return async_sql_url(self.database_url or f"sqlite+aiosqlite:///./{config.package}.db")


def async_sql_url(url: str) -> str:
    """A database URL for SQLAlchemy's async engine: plain postgres URLs get the asyncpg driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url
