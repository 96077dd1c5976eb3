"""`planforge up --monitoring` on the real stack: Prometheus scrapes every target, every recording rule has a value,
every metric a rule reads is exported by a running service, and a stopped service's alert goes pending."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from planforge_testkit.e2e.isolation import discard, isolated_options_kwargs

from planforge.stack import Options, Stack, StackError, StackUsageError

from .conftest import REPO
from .test_monitoring import rule_metric_names

pytestmark = pytest.mark.services

GENERATED = REPO / "generated" / "user-accounts"
# Metrics that come from outside the services: Prometheus's own, RabbitMQ's plugin, the nginx exporter.
EXTERNAL = re.compile(r"^(up|rabbitmq_.*|nginx_.*)$")


def _missing_programs() -> list[str]:
    return [p for p in ("prometheus", "nginx", "rabbitmqctl") if shutil.which(p) is None]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if _missing_programs():
        pytest.skip(f"missing {', '.join(_missing_programs())}")
    options = Options(**isolated_options_kwargs(), monitoring=True)  # type: ignore[arg-type]
    running = Stack(GENERATED, options)
    try:
        try:
            running.start()
        except StackUsageError as exc:
            pytest.skip(str(exc))
        except StackError as exc:
            if str(exc).startswith(("PostgreSQL", "Redis", "RabbitMQ")):
                pytest.skip(str(exc))
            raise
        yield running
    finally:
        running.stop()
        databases = [d for d in (running.database(s) for s in running.spec.services) if d]
        assert options.vhost is not None
        discard(databases, options.postgres_url, options.vhost, options.redis_url, options.redis_prefix)
        if options.state is not None:
            shutil.rmtree(options.state, ignore_errors=True)


def _api(stack: Stack, path: str, **params: str) -> Any:
    assert stack.prometheus_url is not None
    url = f"{stack.prometheus_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def _until(what: str, check: Any, seconds: float = 90.0) -> Any:
    """Poll check() until it returns something true (Prometheus scrapes every 10s); fail naming what."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1.0)
    pytest.fail(f"{what}: not seen within {seconds:g}s (last: {last!r})")


def _traffic(stack: Stack) -> None:
    """Register, log in and read the profile twice (a cache miss, then a hit) through the gateway."""
    assert stack.gateway_url is not None
    email = f"mon-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        created = client.post(
            "/api/v1/users/register", json={"email": email, "password": "s3cret-pass", "displayName": "Mon"}
        )
        assert created.status_code == 201, created.text
        credentials = {"email": email, "password": "s3cret-pass"}

        def logged_in() -> httpx.Response | None:  # the auth record follows user.created, asynchronously
            answer = client.post("/api/v1/auth/login", json=credentials)
            return answer if answer.status_code == 200 else None

        login = _until("a login after registering", logged_in, 30.0)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(3):
            profile = client.get(f"/api/v1/users/{created.json()['id']}", headers=headers)
            assert profile.status_code == 200, profile.text


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((GENERATED / "monitoring" / "rules.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _exported(stack: Stack) -> set[str]:
    names: set[str] = set()
    for service in stack.spec.services:
        text = httpx.get(stack.service_url(service.name) + "/metrics", timeout=10).text
        names |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    return names


def test_every_metric_a_rule_reads_is_exported_by_a_running_service(stack: Stack) -> None:
    """Each metric name in rules.yaml is on a running service's /metrics (or comes from a named exporter)."""
    _traffic(stack)
    used = rule_metric_names((GENERATED / "monitoring" / "rules.yaml").read_text())

    def with_gauge() -> set[str] | None:
        names = _exported(stack)
        return names if "planforge_queue_messages" in names else None

    exported = _until("the queue depth gauge", with_gauge)
    assert used
    missing = sorted(n for n in used if not EXTERNAL.match(n) and n not in exported)
    assert not missing, f"rules read metrics no service exports: {missing}"


def test_prometheus_scrapes_every_target_and_records_every_rule(stack: Stack) -> None:
    """Every target up; after traffic, every recording rule has a value in Prometheus."""
    expected = {s.name for s in stack.spec.services}

    def targets_up() -> bool:
        active = _api(stack, "targets")["activeTargets"]
        up = {t["labels"].get("service") for t in active if t["health"] == "up"}
        return expected <= up and all(t["health"] == "up" for t in active)

    _until("every target up", targets_up)
    _traffic(stack)
    records = sorted({r["record"] for r in _rules() if "record" in r})

    def unrecorded() -> list[str] | None:
        _traffic(stack)
        empty = [name for name in records if not _api(stack, "query", query=name)["result"]]
        return None if empty else ["all recorded"]

    _until(f"a value for every recording rule {records}", unrecorded, 120.0)


def test_a_stopped_service_makes_its_unavailability_alert_pending(stack: Stack) -> None:
    """Stopping notification-service: Prometheus sees it down and its ServiceUnavailable alert goes pending."""
    stack.stop_service("notification-service")

    def pending() -> list[dict[str, Any]]:
        alerts = _api(stack, "alerts")["alerts"]
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == "ServiceUnavailable"
            and a["labels"].get("service") == "notification-service"
            and a["state"] in ("pending", "firing")
        ]

    found = _until("ServiceUnavailable for notification-service", pending, 60.0)
    assert found[0]["annotations"]["summary"].startswith("Service notification-service is unavailable")
    others = [a for a in _api(stack, "alerts")["alerts"] if a["labels"].get("service") == "user-service"]
    assert not [a for a in others if a["labels"]["alertname"] == "ServiceUnavailable"]
