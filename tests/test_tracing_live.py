"""One request through the gateway, followed across HTTP and AMQP: every span shares one trace ID, each with the
right parent (service, outbox relay, consumers, the consumers' own publishes), read from the exporters' output."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from planforge_testkit.e2e.isolation import discard, isolated_options_kwargs

from planforge.stack import Options, Stack, StackError, StackUsageError

from .conftest import REPO

pytestmark = pytest.mark.services

GENERATED = REPO / "generated" / "user-accounts"
TRACE_ID = secrets.token_hex(16)
CLIENT_SPAN = secrets.token_hex(8)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path, str]]:
    """The stack with every service writing its spans to one file, after one registration through the gateway."""
    if any(shutil.which(p) is None for p in ("nginx", "rabbitmqctl")):
        pytest.skip("needs nginx and rabbitmqctl")
    spans = tmp_path_factory.mktemp("traces") / "spans.jsonl"
    previous = os.environ.get("PLANFORGE_TRACES_FILE")
    os.environ["PLANFORGE_TRACES_FILE"] = str(spans)
    options = Options(**isolated_options_kwargs())  # type: ignore[arg-type]
    stack = Stack(GENERATED, options)
    try:
        try:
            stack.start()
        except StackUsageError as exc:
            pytest.skip(str(exc))
        except StackError as exc:
            if str(exc).startswith(("PostgreSQL", "Redis", "RabbitMQ")):
                pytest.skip(str(exc))
            raise
        correlation = str(uuid.uuid4())
        assert stack.gateway_url is not None
        answer = httpx.post(
            stack.gateway_url + "/api/v1/users/register",
            json={"email": f"trace-{uuid.uuid4().hex[:8]}@example.com", "password": "s3cret-pass", "displayName": "T"},
            headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01", "X-Correlation-ID": correlation},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        yield stack, spans, correlation
    finally:
        stack.stop()
        if previous is None:
            os.environ.pop("PLANFORGE_TRACES_FILE", None)
        else:
            os.environ["PLANFORGE_TRACES_FILE"] = previous
        databases = [d for d in (stack.database(s) for s in stack.spec.services) if d]
        assert options.vhost is not None
        discard(databases, options.postgres_url, options.vhost, options.redis_url, options.redis_prefix)
        if options.state is not None:
            shutil.rmtree(options.state, ignore_errors=True)


def _hex(value: str | None) -> str | None:
    return value[2:] if value else None


def _spans(path: Path) -> list[dict[str, Any]]:
    spans = []
    for line in path.read_text().splitlines() if path.exists() else []:
        raw = json.loads(line)
        spans.append(
            {
                "name": raw["name"],
                "kind": raw["kind"].removeprefix("SpanKind."),
                "service": raw["resource"]["attributes"]["service.name"],
                "trace": _hex(raw["context"]["trace_id"]),
                "id": _hex(raw["context"]["span_id"]),
                "parent": _hex(raw["parent_id"]),
            }
        )
    return spans


# (service, span kind, span name): each span the registration must produce
EXPECTED = [
    ("user-service", "SERVER", "POST /users/register"),
    ("user-service", "PRODUCER", "publish user.created"),
    ("auth-service", "CONSUMER", "process user.created"),
    ("auth-service", "PRODUCER", "publish auth.created"),
    ("notification-service", "CONSUMER", "process user.created"),
    ("notification-service", "PRODUCER", "publish notification.sent"),
]


def _wait_for_spans(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    deadline = time.monotonic() + 30
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    while time.monotonic() < deadline:
        found = {(s["service"], s["kind"], s["name"]): s for s in _spans(path) if s["trace"] == TRACE_ID}
        if all(key in found for key in EXPECTED):
            return found
        time.sleep(0.5)
    pytest.fail(f"spans missing from the trace: {[k for k in EXPECTED if k not in found]}; got {sorted(found)}")


def _gateway_span(stack: Stack) -> dict[str, str] | None:
    """The gateway's access log line of the request (trace_id, span_id, parent_span_id), when it logs them."""
    for path in (stack.state / "gateway").rglob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("trace_id") == TRACE_ID and "span_id" in entry:
                return entry
    return None


def test_one_trace_from_the_request_through_outbox_consumers_and_their_publishes(
    traced: tuple[Stack, Path, str],
) -> None:
    """Service span continues the incoming context; relay, consumers and their publishes are children in turn."""
    stack, path, _ = traced
    spans = _wait_for_spans(path)
    server = spans[("user-service", "SERVER", "POST /users/register")]
    relay = spans[("user-service", "PRODUCER", "publish user.created")]
    gateway = _gateway_span(stack)
    assert server["parent"] == (gateway["span_id"] if gateway else CLIENT_SPAN)
    assert relay["parent"] == server["id"], "the relay continues the request that staged the event"
    for consumer in ("auth-service", "notification-service"):
        consumed = spans[(consumer, "CONSUMER", "process user.created")]
        assert consumed["parent"] == relay["id"], consumer
    assert (
        spans[("auth-service", "PRODUCER", "publish auth.created")]["parent"]
        == (spans[("auth-service", "CONSUMER", "process user.created")]["id"])
    )
    assert (
        spans[("notification-service", "PRODUCER", "publish notification.sent")]["parent"]
        == (spans[("notification-service", "CONSUMER", "process user.created")]["id"])
    )
    assert len({s["id"] for s in spans.values()}) == len(spans)


def test_the_gateway_span_starts_the_services_part_of_the_trace(traced: tuple[Stack, Path, str]) -> None:
    """Contract with the gateway: its access log names the trace, its own span and the client's as parent."""
    stack, path, _ = traced
    gateway = _gateway_span(stack)
    assert gateway is not None, "the gateway's access log has no trace_id/span_id for the request"
    assert gateway["parent_span_id"] == CLIENT_SPAN
    server = _wait_for_spans(path)[("user-service", "SERVER", "POST /users/register")]
    assert server["parent"] == gateway["span_id"]


def test_service_logs_carry_the_trace_and_the_correlation_id(traced: tuple[Stack, Path, str]) -> None:
    """The JSON log lines of the request carry both the trace ID and the correlation ID."""
    stack, path, correlation = traced
    _wait_for_spans(path)
    lines = [
        json.loads(line)
        for line in (stack.state / "logs" / "user-service.log").read_text().splitlines()
        if line.startswith("{")
    ]
    traced_lines = [line for line in lines if line.get("trace_id") == TRACE_ID]
    assert traced_lines
    assert all(line["correlation_id"] == correlation for line in traced_lines)
