"""The generation gap: generated endpoints call handlers that live in files a person owns.

Each operation's handler is ``handle`` in ``<package>.impl.<operation module>``, imported lazily on
the first call. A missing module or function, or a handler that raises NotImplementedError, answers
501 problem+json naming the handler, so the app starts and serves whatever is implemented.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from planforge.runtime.auth import BEARER
from planforge.runtime.cache import CacheAside
from planforge.runtime.config import Settings
from planforge.runtime.correlation import current_correlation_id
from planforge.runtime.problems import Problem
from planforge.runtime.resources import Resources

if TYPE_CHECKING:
    from planforge.runtime.events import ServiceBus
    from planforge.runtime.messaging import Envelope

__all__ = ["Context", "Operations", "Reply"]

_log = logging.getLogger("planforge.operations")


@dataclass(frozen=True)
class Reply:
    """What a handler returns to choose the status or add headers (a plain return uses the success status)."""

    body: Any = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What a handler gets besides its parameters: the request, the caller's claims and the service's connections."""

    request: Request
    resources: Resources
    claims: Mapping[str, Any] | None = None
    bus: ServiceBus | None = None

    @property
    def correlation_id(self) -> str | None:
        """The request's correlation ID (also in every log line and forwarded on outgoing calls)."""
        return current_correlation_id()

    @property
    def settings(self) -> Settings:
        """The service's settings."""
        return self.resources.settings

    def session(self) -> AsyncSession:
        """A SQL session: `async with ctx.session() as session:`."""
        return self.resources.session()

    @property
    def redis(self) -> Redis:
        """The Redis client."""
        return self.resources.redis

    def cache(self, name: str) -> CacheAside:
        """Cache-aside helper for one of the manifest's caches."""
        return self.resources.cache(name)

    @property
    def http(self) -> httpx.AsyncClient:
        """Client for calls to other services (circuit breaker, correlation ID)."""
        return self.resources.http

    def issue_token(self, subject: str, **claims: Any) -> str:
        """A signed JWT for subject, as the other services verify it."""
        return self.resources.issuer.issue(subject, **claims)

    def _events(self) -> ServiceBus:
        if self.bus is None:
            raise RuntimeError(f"{self.resources.config.name} has no event bus: it uses no rabbitmq datastore")
        return self.bus

    async def publish(self, event_type: str, data: Any) -> Envelope:
        """Publish an event the service declares, with the request's correlation ID: through the outbox (in a
        transaction of its own) when the service owns a database, else directly with confirms."""
        return await self._events().publish(event_type, data)

    async def stage(self, session: AsyncSession, event_type: str, data: Any) -> Envelope:
        """Add an event to the outbox in session's transaction, so it is published if and only if that commits:
        `async with ctx.session() as s, s.begin(): ...; await ctx.stage(s, "user.created", data)`."""
        return await self._events().publish(event_type, data, session)


Handler = Callable[..., Awaitable[Any]]


class Operations:
    """Finds and calls the handlers of one service package."""

    def __init__(self, package: str | None) -> None:
        self.package = package or ""
        self.implementations = f"{self.package}.impl" if self.package else "impl"

    def handler_name(self, module: str) -> str:
        """The dotted name of the function that implements an operation."""
        return f"{self.implementations}.{module}.handle"

    def _import(self, name: str) -> ModuleType | None:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only the handler's own module (or its package) missing means "not implemented";
            # a missing import inside a handler is a real error.
            if exc.name is not None and name.startswith(exc.name):
                return None
            raise

    def find(self, module: str) -> Handler | None:
        """The handler function, or None when its file or function is missing."""
        found = self._import(f"{self.implementations}.{module}")
        handle = getattr(found, "handle", None)
        return handle if inspect.iscoroutinefunction(handle) else None

    def _not_implemented(self, module: str) -> Problem:
        name = self.handler_name(module)
        return Problem(501, f"The operation is not implemented yet: write async def handle in {name}.", handler=name)

    async def call(self, ctx: Context, module: str, status: int, /, **arguments: Any) -> Any:
        """Run the operation's handler and turn its result into a response."""
        ctx.request.scope["planforge.operation"] = module  # for the audit log
        handle = self.find(module)
        if handle is None:
            raise self._not_implemented(module)
        try:
            result = await handle(ctx, **arguments)
        except NotImplementedError:
            raise self._not_implemented(module) from None
        return _response(result, status)

    async def public(self, request: Request) -> Context:
        """Dependency of public routes."""
        return Context(request, request.app.state.resources, bus=_bus(request))

    async def authenticated(
        self, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Context:
        """Dependency of non-public routes: a verified bearer JWT, else 401."""
        resources: Resources = request.app.state.resources
        claims = resources.verifier.verify(credentials.credentials if credentials else None)
        subject = claims.get("sub")
        request.scope["planforge.subject"] = subject if isinstance(subject, str) else None  # for the audit log
        return Context(request, resources, claims, _bus(request))

    async def startup(self, resources: Resources) -> None:
        """Call `async def startup(resources)` of the impl package, if a person wrote one (e.g. to create tables)."""
        package = self._import(self.implementations)
        hook = getattr(package, "startup", None)
        if inspect.iscoroutinefunction(hook):
            await hook(resources)


def _bus(request: Request) -> ServiceBus | None:
    return getattr(request.app.state, "bus", None)


def _response(result: Any, status: int) -> Any:
    if isinstance(result, Reply):
        code = result.status or status
        if result.body is None:
            return Response(status_code=code, headers=dict(result.headers))
        # Unset optional members are left out, not sent as null (the schemas rarely allow null).
        body = jsonable_encoder(result.body, exclude_unset=True)
        return JSONResponse(body, status_code=code, headers=dict(result.headers))
    if result is None:
        return Response(status_code=status)
    return result
