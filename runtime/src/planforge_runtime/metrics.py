"""Prometheus metrics per route template: request count, errors and a latency histogram; one access log line."""

from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]

_log = logging.getLogger("planforge.access")


class Metrics:
    """The service's own registry (not the global one, so several apps can live in one process)."""

    def __init__(self, caches: tuple[str, ...] = ()) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter("http_requests_total", "HTTP requests served.", labels, registry=self.registry)
        self.errors = Counter(
            "http_request_errors_total", "HTTP requests answered 5xx.", ("method", "route"), registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ("method", "route"),
            registry=self.registry,
        )
        self.events_consumed = Counter(
            "planforge_events_consumed",
            "Event deliveries handled, by outcome (ok, duplicate, retry, dead_letter, poison).",
            ("queue", "event", "outcome"),
            registry=self.registry,
        )
        self.events_published = Counter(
            "planforge_events_published", "Events the broker confirmed.", ("event",), registry=self.registry
        )

        self.queue_messages = Gauge(
            "planforge_queue_messages",
            "Messages ready in a queue this service consumes, as its consumer last read it.",
            ("queue",),
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "planforge_cache_requests",
            "Cache-aside lookups, by result (hit, miss).",
            ("cache", "result"),
            registry=self.registry,
        )
        for cache in caches:  # zero from the start, so a hit ratio exists before the first miss
            for result in ("hit", "miss"):
                self.cache_requests.labels(cache, result)

    def queue_depth(self, queue: str, count: int) -> None:
        """Record a consumed queue's depth."""
        self.queue_messages.labels(queue).set(count)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        """Record one cache-aside lookup."""
        self.cache_requests.labels(cache, "hit" if hit else "miss").inc()

    def consumed(self, queue: str, event: str, outcome: str) -> None:
        """Record how one event delivery ended."""
        self.events_consumed.labels(queue, event, outcome).inc()

    def published(self, event: str) -> None:
        """Record one confirmed event publish."""
        self.events_published.labels(event).inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        if status >= 500:
            self.errors.labels(method, route).inc()
        self.latency.labels(method, route).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if isinstance(route, BaseRoute) and hasattr(route, "path"):
        return str(route.path)
    return "unmatched"


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, elapsed)
            _log.info(
                "request",
                extra={"method": scope["method"], "route": route, "status": status, "ms": round(elapsed * 1000, 2)},
            )
