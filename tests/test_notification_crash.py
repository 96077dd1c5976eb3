"""kill -9 of the example's notification-service right after it recorded a welcome email: nothing lost, nothing twice.

The real generated service (user-accounts' notification_service, with its hand-written impl) runs in its own
process against the local RabbitMQ (a fresh vhost) and Redis (a fresh key prefix). The first process is killed
with SIGKILL by itself right after its first Redis write of the record (before it publishes notification.sent
and acks). After a restart the redelivered user.created must leave exactly one welcome record and the event
marked done. With the record made of two Redis calls, the kill fell between them and lost the record.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import pytest
from redis.asyncio import Redis

from planforge.loader import load_manifest

from .conftest import REPO
from .datastores import fresh_redis_prefix
from .rabbit import amqp_url, fresh_vhost, rabbitmqctl

pytestmark = [pytest.mark.services]

SERVICES = REPO / "generated" / "user-accounts" / "services"
QUEUE = "notification-queue"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Runs the service; with KILL_AFTER_RECORD set, SIGKILLs itself after the first Redis command that writes the
# once-only marker of a notification (the first effect of recording it).
RUNNER = """
import os, signal, sys
import redis.asyncio.client as client
import uvicorn

if os.environ.get("KILL_AFTER_RECORD"):
    original = client.Redis.execute_command

    async def execute_command(self, *args, **options):
        result = await original(self, *args, **options)
        if any("notification-service:recorded:" in str(a) for a in args[1:]):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    client.Redis.execute_command = execute_command

from notification_service.app import CONFIG, build_app
from planforge_testkit.testing import settings_for_tests

uvicorn.run(build_app(settings_for_tests(CONFIG, events=True)), host="127.0.0.1", port=0, log_level="warning")
"""


@pytest.fixture
def isolated() -> Iterator[tuple[str, str]]:
    try:
        with fresh_vhost("planforge-crash") as vhost, fresh_redis_prefix() as prefix:
            yield vhost, prefix
    except RuntimeError as exc:  # no rabbitmqctl
        pytest.skip(str(exc))


def _start(vhost: str, prefix: str, folder: Path, *, kill: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AMQP_URL": amqp_url(vhost), "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix}
    env["PYTHONPATH"] = os.pathsep.join([str(SERVICES), env.get("PYTHONPATH", "")])
    env.pop("KILL_AFTER_RECORD", None)
    if kill:
        env["KILL_AFTER_RECORD"] = "1"
    return subprocess.Popen([sys.executable, "-c", RUNNER], env=env, cwd=folder)


def _user_created() -> tuple[dict[str, object], str, str]:
    data = load_manifest(REPO / "examples" / "user-accounts" / "feature.yaml").data
    event = data["events"]["user.created"]
    envelope = {
        "eventId": str(uuid.uuid4()),
        "eventType": "user.created",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "correlationId": str(uuid.uuid4()),
        "data": event["examples"][0],
    }
    return envelope, event["exchange"], event.get("routing_key", "user.created")


def _consuming(vhost: str, timeout: float = 120) -> None:
    """Wait until the service consumes its queue (its topology, bindings included, is declared by then)."""
    deadline = time.monotonic() + timeout
    while QUEUE not in rabbitmqctl("list_consumers", "-p", vhost, "queue_name"):
        assert time.monotonic() < deadline, "the service never consumed its queue"
        time.sleep(0.2)


async def _publish(url: str, envelope: dict[str, object], exchange: str, key: str) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        body = json.dumps(envelope).encode()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await target.publish(message, key, mandatory=True)


async def _records(prefix: str, user_id: str) -> list[bytes]:
    async with Redis.from_url(REDIS_URL) as redis:
        return list(await redis.lrange(f"{prefix}notification-service:sent:{user_id}", 0, -1))


async def _done(prefix: str, event_id: str) -> bool:
    async with Redis.from_url(REDIS_URL) as redis:
        return await redis.get(f"{prefix}planforge:processed:{QUEUE}:{event_id}") not in (None, b"pending")


def test_a_killed_consumer_records_the_welcome_exactly_once(isolated: tuple[str, str], tmp_path: Path) -> None:
    vhost, prefix = isolated
    url = amqp_url(vhost)
    envelope, exchange, key = _user_created()
    user_id = str(envelope["data"]["userId"])  # type: ignore[index]
    first = _start(vhost, prefix, tmp_path, kill=True)
    try:
        _consuming(vhost)
        asyncio.run(_publish(url, envelope, exchange, key))
        assert first.wait(timeout=120) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    second = _start(vhost, prefix, tmp_path, kill=False)
    try:
        deadline = time.monotonic() + 90  # the killed delivery's claim lapses after its lease (30 s)
        while not asyncio.run(_done(prefix, str(envelope["eventId"]))):
            assert second.poll() is None, "the restarted service stopped"
            assert time.monotonic() < deadline, "the redelivered event was never done"
            time.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
    records = [json.loads(r) for r in asyncio.run(_records(prefix, user_id))]
    assert [r["template"] for r in records] == ["welcome"], records
