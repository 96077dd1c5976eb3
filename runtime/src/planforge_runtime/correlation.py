"""Correlation IDs: accepted from X-Correlation-ID or created, returned, kept in a context variable."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CorrelationMiddleware",
    "correlation_forwarder",
    "correlation_scope",
    "current_correlation_id",
    "forward_correlation_id",
]

_current: ContextVar[str | None] = ContextVar("planforge_correlation_id", default=None)
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEADER = "X-Correlation-ID"


def current_correlation_id() -> str | None:
    """The correlation ID of the request being served, if any."""
    return _current.get()


@contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[None]:
    """Make correlation_id the current one inside the block (e.g. while handling an event), then restore."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def correlation_forwarder(header: str = _HEADER) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook that hands the current correlation ID on to the called service, in header."""

    async def forward(request: httpx.Request) -> None:
        value = _current.get()
        if value is not None and header not in request.headers:
            request.headers[header] = value

    return forward


forward_correlation_id = correlation_forwarder()


class CorrelationMiddleware:
    """Accept a well-formed incoming ID or create one, expose it to the request, return it on the response."""

    def __init__(self, app: ASGIApp, header: str = _HEADER) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(self.header, b"").decode("latin-1")
        value = incoming if _ACCEPTABLE.match(incoming) else str(uuid.uuid4())
        token = _current.set(value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.header]
                message["headers"] = [*headers, (self.header, value.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
