"""Event replay on a real RabbitMQ: dead letters go back to their queue after a fix, filtered by event type and
time, a dry run only counts, and the consumers' idempotency makes every event take effect once."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import pytest
from planforge_runtime.messaging import Envelope, EventContext, MemoryIdempotency, declare_topology
from planforge_runtime.messaging.replay import REPLAYS_HEADER, ReplayFilter, replay_dead_letters

from planforge.build import build_model
from planforge.loader import load_manifest
from planforge.stack.replay import dead_letter_queues
from planforge.topology import topology
from tests import test_messaging
from tests.conftest import REPO, RunCli
from tests.rabbit import amqp_url
from tests.test_messaging import CATALOG, QUEUE, Broker, consuming, declared, eventually, make_consumer, make_topology

pytestmark = [pytest.mark.services]
# The messaging tests' fixtures: a fresh vhost per queue type, and direct access to it.
vhost = test_messaging.vhost
broker = test_messaging.broker
DLQ = f"{QUEUE}.dlq"


def _dated(n: int, when: str) -> bytes:
    """A valid thing.made envelope with a given timestamp."""
    envelope = json.loads(CATALOG.envelope("thing.made", {"n": n}).body())
    envelope["timestamp"] = when
    return json.dumps(envelope).encode()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.asyncio
async def test_replay_after_a_fix_takes_each_event_once(broker: Broker) -> None:
    await declared(broker, make_topology((50,)))
    effects: Counter[int] = Counter()
    broken = {"now": False}

    async def handler(envelope: Envelope, context: EventContext) -> None:
        if broken["now"]:
            raise RuntimeError("the downstream system is down")
        effects[envelope.data["n"]] += 1

    done_before = _dated(4, "2026-06-02T00:00:00Z")
    consumer = make_consumer(broker, MemoryIdempotency(), handler, max_retries=1)
    async with consuming(consumer, broker.url):
        await broker.publish(done_before)
        await eventually(lambda: _true(effects[4] == 1), what="event 4 processed")
        broken["now"] = True
        for n, when in ((1, "2026-01-01T00:00:00Z"), (2, "2026-06-01T00:00:00Z"), (3, "2026-11-01T00:00:00Z")):
            await broker.publish(_dated(n, when))
        await eventually(lambda: _depth_is(broker, DLQ, 3), what="three dead letters")
        # A copy of an event that already took effect ends in the dead letter queue too (a lost ack, say).
        await broker.channel.default_exchange.publish(aio_pika.Message(done_before), routing_key=DLQ)
        await eventually(lambda: _depth_is(broker, DLQ, 4), what="four dead letters")

        counted = await replay_dead_letters(broker.channel, QUEUE, DLQ, ReplayFilter(), dry_run=True)
        assert (counted.examined, counted.matched, counted.replayed) == (4, 4, 0)
        await eventually(lambda: _depth_is(broker, DLQ, 4), what="the dry run's dead letters back")

        broken["now"] = False
        recent = ReplayFilter(since=_at("2026-05-01T00:00:00Z"))
        moved = await replay_dead_letters(broker.channel, QUEUE, DLQ, recent)
        assert (moved.examined, moved.matched, moved.replayed, moved.kept) == (4, 3, 3, 1)
        await eventually(lambda: _true(effects[2] == effects[3] == 1), what="events 2 and 3 processed")
        await eventually(lambda: _depth_is(broker, DLQ, 1), what="event 1 kept")  # older than since: still dead

        rest = await replay_dead_letters(broker.channel, QUEUE, DLQ)
        assert (rest.replayed, rest.kept) == (1, 0)
        await eventually(lambda: _true(effects[1] == 1), what="event 1 processed")
        await eventually(lambda: _depth_is(broker, QUEUE, 0), what="the queue drained")
    assert effects == Counter({1: 1, 2: 1, 3: 1, 4: 1})  # the duplicate of 4 was acked, not processed again
    assert await broker.depth(DLQ) == 0


@pytest.mark.asyncio
async def test_only_the_chosen_event_types_move_and_copies_lose_their_failure_history(broker: Broker) -> None:
    await declared(broker, make_topology((50,)))
    made = CATALOG.envelope("thing.made", {"n": 1}).body()
    failed = CATALOG.envelope("thing.failed", {"failedEventId": "x", "reason": "r"}).body()
    history = {"x-death": [{"queue": QUEUE, "reason": "rejected", "count": 2}], "x-planforge-error": "boom"}
    for body in (made, failed, b"not json"):
        await broker.channel.default_exchange.publish(aio_pika.Message(body, headers=history), routing_key=DLQ)
    result = await replay_dead_letters(broker.channel, QUEUE, DLQ, ReplayFilter(frozenset({"thing.made"})))
    assert (result.examined, result.matched, result.replayed) == (3, 1, 1)
    [replayed] = await broker.take(QUEUE, 1)
    assert replayed.body == made
    assert "x-death" not in (replayed.headers or {}) and "x-planforge-error" not in (replayed.headers or {})
    assert (replayed.headers or {})[REPLAYS_HEADER] == 1
    left = [m.body for m in await broker.take(DLQ, 2)]
    assert left == [failed, b"not json"]  # kept, in their order


async def _true(value: bool) -> bool:
    return value


async def _depth_is(broker: Broker, queue: str, depth: int) -> bool:
    return await broker.depth(queue) == depth


# --- the command line, on a generated feature's topology --------------------------------------------------------

GENERATED = REPO / "generated" / "user-accounts"


@pytest.mark.asyncio
async def test_the_replay_command_counts_then_moves_on_a_generated_topology(vhost: str, run_cli: RunCli) -> None:
    model = build_model(load_manifest(REPO / "examples" / "user-accounts" / "feature.yaml"), "feature.yaml")
    queue, dlq = next(iter(dead_letter_queues(GENERATED).items()))
    async with await aio_pika.connect(amqp_url(vhost)) as connection:
        channel = await connection.channel()
        await declare_topology(channel, topology(model))
        for event_type in ("a.first", "b.second", "a.first"):
            body = json.dumps({"eventId": event_type, "eventType": event_type, "timestamp": _now()}).encode()
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=dlq)
    env = {"AMQP_URL": amqp_url(vhost)}
    dry = run_cli("replay", str(GENERATED), "--queue", queue, "--event", "a.first", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == f"{queue}: 3 dead letters examined, 2 matched, would replay 2, 3 left in {dlq}\n"
    real = run_cli("replay", str(GENERATED), "--queue", queue, "--event", "a.first", env=env)
    assert real.stdout == f"{queue}: 3 dead letters examined, 2 matched, replayed 2, 1 left in {dlq}\n"
    async with await aio_pika.connect(amqp_url(vhost)) as connection:
        channel = await connection.channel()
        depths = [
            (await channel.declare_queue(name, passive=True)).declaration_result.message_count for name in (queue, dlq)
        ]
    assert depths == [2, 1]


def test_the_replay_command_refuses_bad_input(run_cli: RunCli, tmp_path: Path) -> None:
    unknown = run_cli("replay", str(GENERATED), "--queue", "no-such-queue")
    assert unknown.returncode == 2 and "no dead letter queue for no-such-queue" in unknown.stderr
    bad_time = run_cli("replay", str(GENERATED), "--since", "yesterday")
    assert bad_time.returncode == 2 and "is not an ISO 8601 time" in bad_time.stderr
    naive = run_cli("replay", str(GENERATED), "--since", "2026-12-01T09:00:00")
    assert naive.returncode == 2 and "has no time zone" in naive.stderr
    not_generated = run_cli("replay", str(tmp_path))
    assert not_generated.returncode == 2 and "not a generated broker topology" in not_generated.stderr
    assert "Traceback" not in unknown.stderr + bad_time.stderr + not_generated.stderr


def test_the_replay_command_says_when_the_broker_is_unreachable(run_cli: RunCli) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("replay", str(GENERATED), env={"AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}/"})
    assert result.returncode == 1 and "cannot reach the broker at 127.0.0.1" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and os.environ.get("PLANFORGE_DEBUG") is None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
