"""The runtime's observability parts on their own: cache hit/miss counters, trace context kept by the outbox,
the outbox column added to an existing table, and trace IDs in log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from planforge_runtime.cache import CacheAside
from planforge_runtime.config import CacheConfig
from planforge_runtime.logs import JsonFormatter
from planforge_runtime.messaging.envelope import Envelope
from planforge_runtime.messaging.outbox import add_event
from planforge_runtime.messaging.tables import create_tables, outbox
from planforge_runtime.metrics import Metrics
from planforge_runtime.tracing import parent_context
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from .datastores import REDIS_URL, fresh_redis_prefix

_tracer = TracerProvider().get_tracer("test")  # spans with real ids, whatever the global provider is


class Profile(BaseModel):
    """A response model for the test app."""

    name: str


def _cache_count(metrics: Metrics, result: str) -> float | None:
    return metrics.registry.get_sample_value("planforge_cache_requests_total", {"cache": "profiles", "result": result})


@pytest.mark.services
def test_cache_lookups_count_hits_and_misses() -> None:
    """A first read misses and loads, a second hits; both counters exist at zero before any lookup."""
    metrics = Metrics(caches=("profiles",))
    assert _cache_count(metrics, "hit") == 0
    assert _cache_count(metrics, "miss") == 0

    async def run(prefix: str) -> None:
        redis = Redis.from_url(REDIS_URL)
        cache = CacheAside(redis, CacheConfig("profiles", 60), prefix, metrics.cache_lookup)

        async def load() -> Profile:
            return Profile(name="Ada")

        try:
            assert await cache.read_through("1", Profile, load) == Profile(name="Ada")
            assert await cache.read_through("1", Profile, load) == Profile(name="Ada")
        finally:
            await redis.aclose()

    with fresh_redis_prefix() as prefix:
        asyncio.run(run(prefix))
    assert (_cache_count(metrics, "miss"), _cache_count(metrics, "hit")) == (1, 1)


def _envelope(event_id: str) -> Envelope:
    return Envelope(event_id, "user.created", "2026-01-01T00:00:00+00:00", "c-1", {"id": "1"})


def test_the_outbox_keeps_the_trace_context_of_the_staging_transaction(tmp_path: Path) -> None:
    """A row staged inside a span stores that span's W3C context; the relay's parent comes from it."""

    async def run() -> tuple[str | None, str | None]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        await create_tables(engine)
        async with engine.begin() as connection, AsyncSession(bind=connection) as session:
            await add_event(session, _envelope("e-1"), "events", "user.created")
            with _tracer.start_as_current_span("request") as span:
                await add_event(session, _envelope("e-2"), "events", "user.created")
                expected = format(span.get_span_context().span_id, "016x")
            await session.commit()
        async with engine.connect() as connection:
            rows = (await connection.execute(select(outbox.c.event_id, outbox.c.trace_context))).all()
        await engine.dispose()
        stored = dict(rows)
        assert stored["e-1"] is None  # outside a trace: nothing stored
        return stored["e-2"], expected

    stored, span_id = asyncio.run(run())
    assert stored is not None
    parent = parent_context(stored)
    assert parent is not None
    assert format(trace.get_current_span(parent).get_span_context().span_id, "016x") == span_id


def test_an_existing_outbox_table_gains_the_trace_context_column(tmp_path: Path) -> None:
    """A database created before tracing has an outbox without trace_context: start-up adds it."""

    async def run() -> set[str]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite'}")
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE outbox (id INTEGER PRIMARY KEY, event_id VARCHAR(128))"))
        await create_tables(engine)
        async with engine.connect() as connection:
            columns = (await connection.execute(text("PRAGMA table_info(outbox)"))).all()
        await engine.dispose()
        return {c[1] for c in columns}

    assert "trace_context" in asyncio.run(run())


def test_log_lines_carry_the_trace_and_span_ids() -> None:
    """Inside a span, a JSON log line names its trace and span; outside, neither."""
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert "trace_id" not in json.loads(formatter.format(record))
    with _tracer.start_as_current_span("request") as span:
        line = json.loads(formatter.format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_without_a_tracer_provider_the_messaging_spans_still_pass_the_trace_on() -> None:
    """No provider set (a fresh process): the hot path makes no span, yet a delivery's traceparent reaches what
    its handler publishes, and a publish outside any trace carries no trace headers."""
    script = textwrap.dedent(
        """
        import json
        from opentelemetry.sdk.trace import TracerProvider
        from planforge_runtime.tracing import consumer_span, producer_span

        upstream = TracerProvider().get_tracer("upstream").start_span("publish").get_span_context()
        traceparent = f"00-{upstream.trace_id:032x}-{upstream.span_id:016x}-01"
        inside, outside = {}, {}
        with consumer_span("q", "thing.made", "e-1", {"traceparent": traceparent}):
            with producer_span("events", "thing.made", inside, "thing.made"):
                pass
        with producer_span("events", "thing.made", outside, "thing.made"):
            pass
        print(json.dumps([traceparent, inside, outside]))
        """
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    traceparent, inside, outside = json.loads(ran.stdout)
    assert inside["traceparent"].split("-")[1] == traceparent.split("-")[1], "the upstream trace goes on"
    assert outside == {}
