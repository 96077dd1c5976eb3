"""The generation gap: generated endpoints call handlers that live in files a person owns.

Each operation's handler is ``handle`` in ``<package>.impl.<operation module>``, imported lazily on
the first call. A missing module or function, or a handler that raises NotImplementedError, answers
501 problem+json naming the handler, so the app starts and serves whatever is implemented.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, overload

import httpx
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from planforge_runtime.access import Access
from planforge_runtime.auth import BEARER
from planforge_runtime.bodies import RequestBodies
from planforge_runtime.cache import CacheAside
from planforge_runtime.clients import ServiceClient
from planforge_runtime.config import Settings
from planforge_runtime.correlation import current_correlation_id
from planforge_runtime.etags import ResourceLocks, etag_of, if_match_names
from planforge_runtime.messaging.envelope import UNSET
from planforge_runtime.problems import Problem
from planforge_runtime.resources import Resources

if TYPE_CHECKING:
    from planforge_runtime.events import ServiceBus
    from planforge_runtime.messaging import Envelope

Client = TypeVar("Client", bound=ServiceClient)

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

    def client(self, kind: type[Client]) -> Client:
        """A typed client (from the service's generated clients.py) for a service this one calls: over `http`,
        at the base URL its <PACKAGE>_URL environment variable names."""
        return kind(self.resources.http)

    def issue_token(self, subject: str, **claims: Any) -> str:
        """A signed JWT for subject, as the other services verify it."""
        return self.resources.issuer.issue(subject, **claims)

    def _events(self) -> ServiceBus:
        if self.bus is None:
            raise RuntimeError(f"{self.resources.config.name} has no event bus: it uses no rabbitmq datastore")
        return self.bus

    @overload
    async def publish(self, event: BaseModel) -> Envelope: ...

    @overload
    async def publish(self, event: str, data: Any) -> Envelope: ...

    async def publish(self, event: str | BaseModel, data: Any = UNSET) -> Envelope:
        """Publish an event the service declares, `ctx.publish(models.UserAuthenticated(...))` (the model names
        the event) or `ctx.publish("user.authenticated", data)`, with the request's correlation ID: through the
        outbox (in a transaction of its own) when the service owns a database, else directly with confirms."""
        return await self._events().publish(event, data)

    @overload
    async def stage(self, session: AsyncSession, event: BaseModel) -> Envelope: ...

    @overload
    async def stage(self, session: AsyncSession, event: str, data: Any) -> Envelope: ...

    async def stage(self, session: AsyncSession, event: str | BaseModel, data: Any = UNSET) -> Envelope:
        """Add an event to the outbox in session's transaction, so it is published if and only if that commits:
        `async with ctx.session() as s, s.begin(): ...; await ctx.stage(s, models.UserCreated(...))`."""
        return await self._events().publish(event, data, session)


Handler = Callable[..., Awaitable[Any]]


class Operations:
    """Finds and calls the handlers of one service package; checks request bodies against their schemas and
    gives ETag routes their ETag and If-Match check."""

    def __init__(self, package: str | None, bodies: RequestBodies | None = None) -> None:
        self.package = package or ""
        self.implementations = f"{self.package}.impl" if self.package else "impl"
        self.bodies = bodies
        self.locks = ResourceLocks()

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

    async def _run(self, ctx: Context, module: str, arguments: Mapping[str, Any]) -> Any:
        handle = self.find(module)
        if handle is None:
            raise self._not_implemented(module)
        try:
            return await handle(ctx, **arguments)
        except NotImplementedError:
            raise self._not_implemented(module) from None

    async def call(self, ctx: Context, module: str, status: int, /, **arguments: Any) -> Any:
        """Run the operation's handler and turn its result into a response."""
        ctx.request.scope["planforge.operation"] = module  # for the audit log
        return _response(await self._run(ctx, module, arguments), status)

    async def read(self, ctx: Context, module: str, status: int, /, **arguments: Any) -> Response:
        """Run a read route's handler; the answer carries the ETag of the version it shows."""
        ctx.request.scope["planforge.operation"] = module  # for the audit log
        answer = _Answer.of(await self._run(ctx, module, arguments), status)
        return answer.response(etag_of(answer.data))

    async def update(
        self,
        ctx: Context,
        module: str,
        status: int,
        read: tuple[str, Mapping[str, Any]],
        /,
        **arguments: Any,
    ) -> Response:
        """Run a conditional update: If-Match must name the ETag of the current version, as the read route
        (module read[0] with arguments read[1]) shows it (428 without If-Match, 412 for another version).
        The answer carries the ETag of the version after the update."""
        ctx.request.scope["planforge.operation"] = module  # for the audit log
        if_match = ctx.request.headers.get("If-Match")
        if if_match is None:
            raise Problem(428, "Send If-Match with the ETag of the version you are changing.")
        reader, read_arguments = read
        key = (reader, tuple(sorted((k, str(v)) for k, v in read_arguments.items())))
        async with self.locks.hold(key):
            current = _Answer.of(await self._run(ctx, reader, read_arguments), 200)
            etag = etag_of(current.data)
            if not if_match_names(if_match, etag):
                raise Problem(412, "If-Match does not name the current version.", headers={"ETag": etag})
            answer = _Answer.of(await self._run(ctx, module, arguments), status)
            try:
                after: str | None = etag_of(_Answer.of(await self._run(ctx, reader, read_arguments), 200).data)
            except Problem:
                after = None  # e.g. a DELETE: no current version any more, so no ETag
        return answer.response(after)

    async def _checked_body(self, request: Request) -> None:
        route = request.scope.get("route")
        operation = getattr(route, "operation_id", None)
        if self.bodies is None or not isinstance(operation, str) or operation not in self.bodies:
            return
        try:
            body = json.loads(await request.body())
        except ValueError:
            return  # no body, or not JSON: FastAPI's own parsing answers 422 for it
        self.bodies.check(operation, body)

    async def public(self, request: Request) -> Context:
        """Dependency of public routes."""
        await self._checked_body(request)
        return Context(request, request.app.state.resources, bus=_bus(request))

    async def authenticated(
        self, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Context:
        """Dependency of non-public routes: a verified bearer JWT, else 401; then the body's schema, else 422."""
        context = self._verified(request, credentials)
        await self._checked_body(request)
        return context

    def _verified(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Context:
        """The caller's context from a verified bearer JWT (401 otherwise); its subject noted for the audit log."""
        resources: Resources = request.app.state.resources
        claims = resources.verifier.verify(credentials.credentials if credentials else None)
        subject = claims.get("sub")
        request.scope["planforge.subject"] = subject if isinstance(subject, str) else None
        return Context(request, resources, claims, _bus(request))

    def authorized(
        self, owner: str | None = None, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
    ) -> Callable[..., Awaitable[Context]]:
        """Dependency of routes with `access`: a verified bearer JWT (else 401) that the rule allows (else 403)."""
        access = Access(owner, tuple(scopes), tuple(roles))

        async def dependency(
            request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
        ) -> Context:
            # 401, then 403, then 422: a caller who may not call the route learns nothing about its body.
            context = self._verified(request, credentials)
            access.check(context.claims or {}, request.path_params)
            await self._checked_body(request)
            return context

        return dependency

    async def startup(self, resources: Resources) -> None:
        """Run the impl package's `startup(resources)` coroutine, if a person wrote one (e.g. to create tables)."""
        package = self._import(self.implementations)
        hook = getattr(package, "startup", None)
        if inspect.iscoroutinefunction(hook):
            await hook(resources)


def _bus(request: Request) -> ServiceBus | None:
    return getattr(request.app.state, "bus", None)


@dataclass(frozen=True)
class _Answer:
    """A handler's result as the JSON it answers with, its status and headers."""

    data: Any
    status: int
    headers: Mapping[str, str]
    empty: bool

    @classmethod
    def of(cls, result: Any, status: int) -> _Answer:
        if isinstance(result, Reply):
            body = None if result.body is None else jsonable_encoder(result.body, exclude_unset=True)
            return cls(body, result.status or status, dict(result.headers), result.body is None)
        if result is None:
            return cls(None, status, {}, True)
        return cls(jsonable_encoder(result, exclude_unset=True), status, {}, False)

    def response(self, etag: str | None) -> Response:
        headers = {**self.headers, **({"ETag": etag} if etag else {})}
        if self.empty:
            return Response(status_code=self.status, headers=headers)
        return JSONResponse(self.data, status_code=self.status, headers=headers)


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
