"""A small circuit breaker for outgoing HTTP calls, and the httpx client that uses it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import httpx

from planforge_runtime.config import BreakerConfig
from planforge_runtime.correlation import correlation_forwarder

__all__ = ["BreakerTransport", "CircuitBreaker", "CircuitOpenError", "http_client"]


class CircuitOpenError(httpx.TransportError):
    """The breaker is open: the call was not made."""


class CircuitBreaker:
    """Opens when the failure ratio in the window reaches the threshold; lets one trial call through when half open."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.outcomes: deque[tuple[float, bool]] = deque()
        self.opened_at: float | None = None
        self.trial_running = False

    @property
    def state(self) -> str:
        """closed, open or half-open."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.config.half_open_after else "open"

    def allow(self) -> bool:
        """May a call go out now?"""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def record(self, ok: bool) -> None:
        """Record the outcome of a call that was allowed."""
        now = self.clock()
        if self.opened_at is not None:
            self.trial_running = False
            self.opened_at = None if ok else now
            self.outcomes.clear()
            return
        self.outcomes.append((now, ok))
        while self.outcomes and self.outcomes[0][0] < now - self.config.window:
            self.outcomes.popleft()
        failures = sum(1 for _, good in self.outcomes if not good)
        if (
            len(self.outcomes) >= self.config.minimum_calls
            and failures / len(self.outcomes) >= self.config.failure_rate
        ):
            self.opened_at = now


class BreakerTransport(httpx.AsyncBaseTransport):
    """Wraps a transport with one breaker per host; 5xx answers and transport errors count as failures."""

    def __init__(self, config: BreakerConfig, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker_for(self, host: str) -> CircuitBreaker:
        """The breaker guarding calls to host."""
        return self.breakers.setdefault(host, CircuitBreaker(self.config))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request unless the host's breaker is open."""
        breaker = self.breaker_for(request.url.host)
        if not breaker.allow():
            raise CircuitOpenError(f"circuit open for {request.url.host}", request=request)
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            breaker.record(False)
            raise
        breaker.record(response.status_code < 500)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def http_client(
    config: BreakerConfig,
    *,
    timeout: float = 5.0,
    inner: httpx.AsyncBaseTransport | None = None,
    correlation_header: str = "X-Correlation-ID",
) -> httpx.AsyncClient:
    """An httpx client for calls to other services: breaker, timeout and the correlation ID forwarded in the
    manifest's correlation header."""
    return httpx.AsyncClient(
        transport=BreakerTransport(config, inner),
        timeout=timeout,
        event_hooks={"request": [correlation_forwarder(correlation_header)]},
    )
