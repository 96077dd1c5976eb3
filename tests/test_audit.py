"""The audit log on user-accounts' wired services (real PostgreSQL, Redis and RabbitMQ): state-changing requests,
published and consumed events are recorded with correlation ID and subject, never with PII, in a store the
database keeps append-only."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from planforge_runtime.audit import audit_table
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests import test_events_wiring
from tests.test_events_wiring import PACKAGES, eventually, needs_rabbitmqctl

pytestmark = [pytest.mark.services]
clients = test_events_wiring.clients  # the fixture: the three apps, events on, each with fresh datastores
services = test_events_wiring.services


def _rows(client: TestClient) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with client.app.state.resources.engine.connect() as connection:  # type: ignore[attr-defined]
            result = await connection.execute(select(audit_table).order_by(audit_table.c.id))
            return [dict(row._mapping) for row in result]

    assert client.portal is not None
    return client.portal.call(read)


def _stream(client: TestClient) -> list[dict[str, str]]:
    resources = client.app.state.resources  # type: ignore[attr-defined]
    key = resources.audit.key

    async def read() -> list[dict[str, str]]:
        entries = await resources.redis.xrange(key)
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]

    assert client.portal is not None
    return client.portal.call(read)


@needs_rabbitmqctl
def test_requests_and_events_are_audited_without_pii(clients: dict[str, TestClient]) -> None:
    users, auth, notifications = (clients[p] for p in PACKAGES)
    email = f"ada-{time.time_ns()}@example.com"
    secret = f"horse-{time.time_ns()}"
    correlation = f"audit-{time.time_ns()}"
    registration = {"email": email, "password": secret, "displayName": "Ada Lovelace"}
    first = users.post("/users/register", json=registration, headers={"X-Correlation-ID": correlation})
    assert first.status_code == 201, first.text
    assert users.post("/users/register", json=registration).status_code == 409
    assert users.get("/healthz").status_code == 200  # reads are not audited

    # user-service set the credentials in a call: auth-service audits it as a request (no token: no subject).
    auth_requests = [(r["operation"], r["outcome"], r["subject"]) for r in _rows(auth) if r["kind"] == "request"]
    assert auth_requests == [("set_credentials", "204", None)]
    assert next(r for r in _rows(auth) if r["kind"] == "request")["correlation_id"] == correlation

    requests = [(r["operation"], r["outcome"]) for r in _rows(users) if r["kind"] == "request"]
    assert requests == [("register_user", "201"), ("register_user", "409")]
    [created] = [r for r in _rows(users) if r["kind"] == "published" and r["operation"] == "user.created"]
    assert (created["outcome"], created["correlation_id"]) == ("staged", correlation)
    assert next(r for r in _rows(users) if r["kind"] == "request")["correlation_id"] == correlation

    def mail_record() -> list[dict[str, str]]:
        return [r for r in _stream(notifications) if r["operation"].startswith("user.created")]

    [mail] = eventually(mail_record, "notification-service's audit record in Redis")
    assert (mail["kind"], mail["outcome"], mail["correlation_id"]) == ("consumed", "ok", correlation)

    credentials = {"email": email, "password": secret}
    login = eventually(lambda: (r := auth.post("/auth/login", json=credentials)).status_code == 200 and r, "login")
    assert [r["subject"] for r in _rows(auth) if r["kind"] == "request"] == [None, None]  # both public: no subject
    user_id = first.json()["id"]
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    # The login's user.authenticated event updates the user (lastLoginAt): read after it has, or the update's
    # If-Match may name the version before it and get 412.
    read = eventually(
        lambda: (
            (r := users.get(f"/users/{user_id}", headers=token)).status_code == 200
            and r.json().get("lastLoginAt")
            and r
        ),
        "user-service recording the login",
    )
    changed = users.put(
        f"/users/{user_id}", json={"displayName": "Countess"}, headers={**token, "If-Match": read.headers["ETag"]}
    )
    assert changed.status_code == 200, changed.text
    [update] = [r for r in _rows(users) if r["operation"] == "update_user"]
    assert (update["outcome"], update["subject"]) == ("200", user_id)
    everything = str(_rows(users) + _rows(auth) + _stream(notifications))
    for value in (email, secret, "Ada Lovelace", "Countess"):
        assert value not in everything


@needs_rabbitmqctl
def test_the_database_keeps_the_audit_log_append_only(clients: dict[str, TestClient]) -> None:
    users = clients["user_service"]
    assert users.post("/users/register", json={"email": "x@example.com", "password": "p" * 12, "displayName": "X"})
    engine = users.app.state.resources.engine  # type: ignore[attr-defined]

    async def attempt(statement: str) -> str:
        try:
            async with engine.begin() as connection:
                await connection.execute(text(statement))
        except DBAPIError as exc:
            return str(exc.orig)
        return "allowed"

    assert users.portal is not None
    for statement in (
        "UPDATE planforge_audit SET outcome = 'x'",
        "DELETE FROM planforge_audit",
        "TRUNCATE planforge_audit",
    ):
        assert "append-only" in users.portal.call(attempt, statement), statement
    assert _rows(users)
