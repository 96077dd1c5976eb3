"""Distributed tracing with OpenTelemetry: W3C trace context in and out over HTTP and AMQP, spans exported.

A service continues the `traceparent` it receives (FastAPI instrumentation), passes it on in its HTTP calls
(httpx instrumentation) and in every event's AMQP headers. The outbox stores the context of the transaction
that staged an event, so the relay's publish span is a child of the request that caused it, however late it
runs; a consumer's span is a child of the publish span, and what its handler publishes continues it.

Export follows the standard variables: OTEL_TRACES_EXPORTER (otlp, console, none; default otlp when
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, else none), the OTEL_EXPORTER_OTLP_*
variables for the OTLP/HTTP exporter and OTEL_SERVICE_NAME. PLANFORGE_TRACES_FILE adds a file of JSON lines,
one finished span each (what the tests read).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

__all__ = [
    "FileSpanExporter",
    "configure_tracing",
    "consumer_span",
    "context_json",
    "current_ids",
    "instrument_app",
    "instrument_client",
    "parent_context",
    "producer_span",
]

_TRACER = "planforge_runtime"
_provider: TracerProvider | None = None


class FileSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line (one write per span, so several processes can share a file)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the spans."""
        for span in spans:
            os.write(self._fd, (span.to_json(indent=None) + "\n").encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        os.close(self._fd)


def configure_tracing(service_name: str) -> TracerProvider:
    """The process's tracer provider, created once, named after the service, exporting as OTEL_* asks."""
    global _provider
    if _provider is None:
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        _provider = TracerProvider(resource=Resource.create({"service.name": name}))
        for exporter in _exporters():
            _provider.add_span_processor(BatchSpanProcessor(exporter))
        path = os.environ.get("PLANFORGE_TRACES_FILE")
        if path:
            _provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
        trace.set_tracer_provider(_provider)
    return _provider


def _exporters() -> list[SpanExporter]:
    env = os.environ
    default = "otlp" if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") else ""
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", default).split(",") if n.strip()]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
    return exporters


def instrument_app(app: FastAPI, service_name: str) -> None:
    """Server spans for every request but health and metrics, continuing an incoming traceparent."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = configure_tracing(service_name)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/healthz,/readyz,/metrics", exclude_spans=["receive", "send"]
    )


def instrument_client(client: httpx.AsyncClient) -> None:
    """Client spans for the calls to other services, with traceparent sent along."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)


def context_json() -> str | None:
    """The current trace context as W3C headers in JSON (stored with an outbox row), None outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, sort_keys=True) if carrier else None


def parent_context(headers: Mapping[str, Any] | str | None) -> otel_context.Context | None:
    """The context carried by AMQP headers or a stored JSON carrier; None when they carry none."""
    found: Mapping[str, Any] = json.loads(headers) if isinstance(headers, str) else headers or {}
    if "traceparent" not in found:  # most messages, when tracing is off: no carrier to build
        return None
    carrier = {k: v.decode() if isinstance(v, bytes) else v for k, v in found.items()}
    carrier = {k: v for k, v in carrier.items() if isinstance(v, str)}
    if "traceparent" not in carrier:
        return None
    return propagate.extract(carrier)


@functools.cache
def _tracer() -> trace.Tracer:
    """The runtime's tracer, made once (two spans an event): a proxy that follows the provider set later."""
    return trace.get_tracer(_TRACER)


def _recording() -> bool:
    """Whether a tracer provider that records spans is set. Without one, a span is a non-recording copy of its
    parent's context: with no parent of its own it changes nothing, so the hot path need not make it."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@contextmanager
def producer_span(
    exchange: str, routing_key: str, headers: dict[str, Any], event_type: str | None, parent: Any = None
) -> Iterator[Span]:
    """A PRODUCER span for one publish (a child of parent, else of the current span); its context goes into
    headers, so the consumer continues it."""
    if parent is None and not _recording():
        propagate.inject(headers)  # what the non-recording span would inject: the current context
        yield trace.get_current_span()
        return
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": exchange or "(default)",
        "messaging.rabbitmq.destination.routing_key": routing_key,
    }
    name = f"publish {event_type or routing_key}"
    with _tracer().start_as_current_span(name, context=parent, kind=SpanKind.PRODUCER, attributes=attributes) as span:
        propagate.inject(headers)
        yield span


@contextmanager
def consumer_span(queue: str, event_type: str, event_id: str, headers: Mapping[str, Any] | None) -> Iterator[Span]:
    """A CONSUMER span for handling one delivery, a child of the publish span whose context the message carries."""
    parent = parent_context(headers)
    if parent is None and not _recording():
        yield trace.get_current_span()
        return
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": event_id,
    }
    with _tracer().start_as_current_span(
        f"process {event_type}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the current span, for log lines; None outside a trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
