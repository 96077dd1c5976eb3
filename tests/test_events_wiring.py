"""Generated services doing real event work: user-accounts' three services in-process, against a fresh vhost of
the real RabbitMQ, fresh databases and a fresh Redis prefix; registration flows through the outbox to the
consumers, and their effects, metrics and correlation IDs are observed."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from planforge_runtime import Resources
from planforge_runtime.events import ServiceBus
from planforge_runtime.messaging import outbox
from planforge_runtime.metrics import Metrics
from planforge_testkit.testing import settings_for_tests
from sqlalchemy import select

from .datastores import fresh_database, fresh_redis_prefix
from .rabbit import amqp_url, fresh_vhost
from .test_services import IMPLEMENTATIONS, REPO, copy_user_files, generate, load_service

needs_rabbitmqctl = pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl for a fresh vhost"
)

T = TypeVar("T")
PACKAGES = ("user_service", "auth_service", "notification_service")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """probe()'s first truthy answer, polled until timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """user-accounts generated afresh with the example's committed handlers."""
    root = generate(REPO / "examples" / "user-accounts" / "feature.yaml", tmp_path_factory.mktemp("wired"))
    for package in PACKAGES:
        copy_user_files(IMPLEMENTATIONS / package, root / "services" / package)
    return root


@pytest.fixture
def clients(services: Path) -> Iterator[dict[str, TestClient]]:
    """The three apps started with events on: declared topology, outbox relays and consumers running."""
    with (
        fresh_vhost() as vhost,
        fresh_database() as users_db,
        fresh_database() as auth_db,
        fresh_redis_prefix() as prefix,
    ):
        databases = {"user_service": users_db, "auth_service": auth_db}
        apps = {}
        for package in PACKAGES:
            module = load_service(services, package)
            isolated: dict[str, Any] = {"amqp_url": amqp_url(vhost), "redis_key_prefix": prefix, "events": True}
            if package in databases:
                isolated["database_url"] = databases[package]
            apps[package] = module.build_app(settings_for_tests(module.CONFIG, **isolated))
        with ExitStack() as stack:
            started = {package: stack.enter_context(TestClient(app)) for package, app in apps.items()}
            for client in started.values():
                eventually(lambda c=client: c.get("/readyz").status_code == 200, "the consumers")  # type: ignore[misc]
            yield started


def counter(client: TestClient, name: str, **labels: str) -> float:
    """A sample of the service's /metrics (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", client.get("/metrics").text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _outbox_correlation(client: TestClient, event_type: str) -> str | None:
    async def read() -> str | None:
        async with client.app.state.resources.session() as session:  # type: ignore[attr-defined]
            query = select(outbox.c.correlation_id).where(outbox.c.event_type == event_type)
            value = (await session.execute(query)).scalar_one_or_none()
        return None if value is None else str(value)

    assert client.portal is not None
    return client.portal.call(read)


@needs_rabbitmqctl
@pytest.mark.services
def test_registration_flows_through_events_to_every_consumer(clients: dict[str, TestClient]) -> None:
    users, auth, notifications = (clients[p] for p in PACKAGES)
    email = f"ada-{time.time_ns()}@example.com"
    registration = {"email": email, "password": "correct horse", "displayName": "Ada"}
    correlation = f"wiring-{time.time_ns()}"
    created = users.post("/users/register", json=registration, headers={"X-Correlation-ID": correlation})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    credentials = {"email": email, "password": "correct horse"}
    login = eventually(lambda: (r := auth.post("/auth/login", json=credentials)).status_code == 200 and r, "login")
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def last_login() -> Any:
        profile = users.get(f"/users/{user_id}", headers=token).json()
        return profile.get("lastLoginAt")

    assert eventually(last_login, "lastLoginAt from user.authenticated")
    page = eventually(lambda: notifications.get(f"/notifications/{user_id}", headers=token).json()["items"], "mail")
    assert [item["template"] for item in page] == ["welcome"]

    assert counter(users, "planforge_events_published_total", event="user.created") == 1
    consumed = {"queue": "auth-service-queue", "event": "user.created", "outcome": "ok"}
    assert counter(auth, "planforge_events_consumed_total", **consumed) == 1
    assert counter(auth, "planforge_events_published_total", event="auth.created") >= 1
    assert _outbox_correlation(auth, "auth.created") == correlation  # emitted under the event's correlation ID
    sent = {"queue": "user-service-queue", "event": "notification.sent", "outcome": "ok"}
    eventually(lambda: counter(users, "planforge_events_consumed_total", **sent) == 1, "notification.sent consumed")


@needs_rabbitmqctl
@pytest.mark.services
def test_an_undeclared_event_is_refused(clients: dict[str, TestClient]) -> None:
    bus = clients["notification_service"].app.state.bus  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"does not publish 'user\.created'"):
        bus.declared("user.created")


def test_a_dead_lettered_step_is_compensated_with_valid_data() -> None:
    """order-checkout: payment-service's consumer of stock.reserved compensates with payment.failed, whose data
    the wiring builds from the failed event; other events on that queue are not compensated."""
    payments = load_service(REPO / "generated" / "order-checkout", "payment_service")
    resources = Resources(payments.CONFIG, settings_for_tests(payments.CONFIG))
    service_bus = ServiceBus(resources, payments.EVENTS, payments.operations, Metrics())
    consumer = next(c for c in service_bus.bus.consumers if c.queue == "payment-service-queue")
    compensation = consumer.compensation
    assert compensation is not None and compensation.event_type == "payment.failed"
    assert compensation.applies_to("stock.reserved") and not compensation.applies_to("stock.released")
    catalog = payments.EVENTS.catalog
    example = {
        "orderId": "6a0e2f4c-3b1d-4c8e-9f7a-1b2c3d4e5f60",
        "reservationId": "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f",
        "totalCents": 4897,
        "currency": "EUR",
        "reservedAt": "2025-03-02T10:15:01Z",
    }
    failed = catalog.envelope("stock.reserved", example)
    data = compensation.data(failed, "RuntimeError: the provider is down")
    catalog.validate("payment.failed", data)
    assert data["orderId"] == example["orderId"] and data["reason"].startswith("RuntimeError")
