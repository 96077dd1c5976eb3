"""Reliable messaging (planforge_runtime.messaging) against the real RabbitMQ, PostgreSQL and Redis.

Each test runs in a fresh vhost; the module gets its own PostgreSQL database, created from the `test` database
and dropped at the end. Broker outages come from a TCP proxy in the test (tests/rabbit.py) between the code under
test and the broker; the shared broker is never stopped. Retry delays are short (tens to hundreds of ms).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from planforge_runtime import DatastoreConfig, Resources, ServiceConfig, Settings
from planforge_runtime.logs import JsonFormatter
from planforge_runtime.messaging import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    POISON_HEADER,
    Backoff,
    Compensation,
    Consumer,
    Envelope,
    EventBus,
    EventCatalog,
    EventContext,
    EventSpec,
    EventValidationError,
    IdempotencyStore,
    MemoryIdempotency,
    OutboxRelay,
    Processing,
    Publisher,
    RedisIdempotency,
    SqlIdempotency,
    TopologyError,
    UnknownEventError,
    UnroutableError,
    add_event,
    declare_topology,
    metadata,
    outbox,
    processed_events,
)
from redis.asyncio import Redis
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry

from planforge.model import Binding, Queue
from planforge.topology import ExchangeSpec, Topology, queue_topology
from tests.rabbit import TcpProxy, amqp_url, fresh_vhost, rabbitmqctl

pytestmark = [pytest.mark.services]

EXCHANGE, QUEUE, COMPENSATIONS = "events", "work", "compensations"
CATALOG = EventCatalog(
    [
        EventSpec(
            "thing.made",
            EXCHANGE,
            "thing.made",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["n"],
                "properties": {"n": {"type": "integer", "minimum": 0}, "tag": {"$ref": "Tag"}},
            },
        ),
        EventSpec(
            "thing.failed",
            EXCHANGE,
            "thing.failed",
            {"type": "object", "required": ["failedEventId", "reason"], "properties": {"reason": {"minLength": 1}}},
        ),
    ],
    {"Tag": {"type": "string", "minLength": 1}},
)
FAST = Backoff(initial=0.05, maximum=0.2, deadline=10.0)

effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("event_id", String(128)), Column("n", Integer))


# Every test with a vhost runs once per RabbitMQ queue type: the vhost fixture sets the type that
# make_topology gives the queues, so the fault tests hold on quorum and on classic queues.
QUEUE_TYPES = ("quorum", "classic")
_queue_type = {"current": QUEUE_TYPES[0]}


def make_topology(delays_ms: tuple[int, ...], dead_letter: bool = True) -> Topology:
    """An exchange, the work queue with the given retry chain, and a queue that collects compensation events."""
    kind = _queue_type["current"]
    work = queue_topology(
        Queue(QUEUE, True, None, (Binding(QUEUE, EXCHANGE, "thing.made"),), (), kind), delays_ms, dead_letter
    )
    compensations = queue_topology(
        Queue(COMPENSATIONS, True, None, (Binding(COMPENSATIONS, EXCHANGE, "thing.failed"),), (), kind), (), False
    )
    exchange = ExchangeSpec(name=EXCHANGE, type="topic", durable=True, internal=False, arguments={})
    parts = [work, compensations]
    return Topology(
        exchanges=sorted([exchange, *(e for p in parts for e in p["exchanges"])], key=lambda e: e["name"]),
        queues=sorted((q for p in parts for q in p["queues"]), key=lambda q: q["name"]),
        bindings=[b for p in parts for b in p["bindings"]],
    )


# --- fixtures: vhost, database, broker access -------------------------------------------------------------------


@pytest.fixture(params=QUEUE_TYPES)
def vhost(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost for one test, whose queues are of one type (quorum, then classic)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    _queue_type["current"] = request.param
    try:
        with fresh_vhost("planforge-messaging") as name:
            yield name
    finally:
        _queue_type["current"] = QUEUE_TYPES[0]


async def _admin() -> asyncpg.Connection:
    for user in ("postgres", "root"):
        try:
            return await asyncpg.connect(host="127.0.0.1", port=5432, user=user, database="test")
        except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
            continue
    raise RuntimeError("no PostgreSQL role to create a test database with")


async def _create_database(name: str) -> str:
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://{admin.get_settings().session_authorization}@127.0.0.1:5432/{name}"
    finally:
        await admin.close()


async def _drop_database(name: str) -> None:
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    name = f"pf_{uuid.uuid4().hex}"
    url = asyncio.run(_create_database(name))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(name))


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on url with empty messaging and effects tables."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for tables in (metadata, effects_metadata):
                await connection.run_sync(tables.drop_all)
                await connection.run_sync(tables.create_all)
        yield engine
    finally:
        await engine.dispose()


def _database_url(kind: str, postgres_url: str, tmp_path: Path) -> str:
    return postgres_url if kind == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


@pytest_asyncio.fixture
async def pg(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """The module's PostgreSQL database with empty tables."""
    async with _engine(postgres_url) as engine:
        yield engine


@pytest_asyncio.fixture(params=["postgres", "sqlite"])
async def sql(request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """PostgreSQL, then a SQLite file, each with empty tables."""
    async with _engine(_database_url(request.param, postgres_url, tmp_path)) as engine:
        yield engine


class Broker:
    """Direct access to the test's vhost: declare, publish raw bodies, count and take messages."""

    def __init__(self, vhost: str, channel: AbstractChannel) -> None:
        self.vhost = vhost
        self.url = amqp_url(vhost)
        self.channel = channel

    async def depth(self, queue: str) -> int:
        """The number of ready messages in queue."""
        declared = await self.channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)

    async def publish(self, body: bytes, routing_key: str = "thing.made") -> None:
        """Publish a raw, persistent body on the test exchange."""
        exchange = await self.channel.get_exchange(EXCHANGE, ensure=False)
        await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key)

    async def take(self, queue: str, count: int, timeout: float = 10.0) -> list[AbstractIncomingMessage]:
        """Take (and ack) count messages, waiting up to timeout for them; fails when fewer came."""
        source = await self.channel.get_queue(queue, ensure=False)
        taken: list[AbstractIncomingMessage] = []
        deadline = time.monotonic() + timeout
        while len(taken) < count and time.monotonic() < deadline:
            message = await source.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.02)
            else:
                taken.append(message)
        assert len(taken) == count, f"{queue}: {len(taken)} of {count} messages came"
        return taken


@pytest_asyncio.fixture
async def broker(vhost: str) -> AsyncIterator[Broker]:
    """The vhost with the default test topology (no retries) declared, and a confirm channel on it."""
    async with await aio_pika.connect(amqp_url(vhost)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        yield Broker(vhost, channel)


async def declared(broker: Broker, topology: Topology) -> Topology:
    await declare_topology(broker.channel, topology)
    return topology


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    """A TCP proxy to the broker, closed afterwards."""
    link = TcpProxy()
    await link.start()
    yield link
    await link.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def consuming(consumer: Consumer, url: str) -> AsyncIterator[Consumer]:
    """Run the consumer while the block runs; then stop it and close its publisher."""
    task = asyncio.create_task(consumer.run(url, Backoff(0.05, 0.2, None)))
    try:
        await asyncio.wait_for(consumer.ready.wait(), 10)
        yield consumer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.publisher.close()
        await asyncio.sleep(0.05)  # let aio-pika's close callbacks finish before the test's loop closes


def make_consumer(
    broker: Broker, store: IdempotencyStore, handler: Callable[[Envelope, EventContext], Awaitable[None]], **kw: Any
) -> Consumer:
    publisher = Publisher(broker.url, backoff=FAST)
    return Consumer(QUEUE, {"thing.made": handler}, catalog=CATALOG, store=store, publisher=publisher, **kw)


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


# --- envelope, topology, publisher ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_invalid_payload_fails_loudly_in_the_producer() -> None:
    bus = EventBus(amqp_url("no-such-vhost"), make_topology(()), CATALOG)
    with pytest.raises(
        EventValidationError, match=r"event 'thing.made' is invalid at data.n: is less than the minimum of 0$"
    ):
        await bus.publish("thing.made", {"n": -1})
    with pytest.raises(EventValidationError) as missing:
        CATALOG.envelope("thing.made", {"tag": "x"})
    assert (missing.value.event_type, missing.value.field) == ("thing.made", "n")
    # through the $ref
    with pytest.raises(EventValidationError, match=r"data.tag: is shorter than the minimum length of 1$"):
        CATALOG.envelope("thing.made", {"n": 1, "tag": ""})
    with pytest.raises(UnknownEventError):
        await bus.publish("thing.lost", {})
    envelope = CATALOG.envelope("thing.made", {"n": 1}, correlation_id="c-1")
    assert json.loads(envelope.body()) == {
        "eventId": envelope.event_id,
        "eventType": "thing.made",
        "timestamp": envelope.timestamp,
        "correlationId": "c-1",
        "data": {"n": 1},
    }
    assert uuid.UUID(envelope.event_id).version == 4
    assert envelope.timestamp.endswith("Z")


@pytest.mark.parametrize(
    ("datastores", "store", "relays"),
    [
        ((DatastoreConfig("db", "postgres", owned=True), DatastoreConfig("cache", "redis")), SqlIdempotency, True),
        ((DatastoreConfig("cache", "redis"),), RedisIdempotency, False),
        ((), MemoryIdempotency, False),
    ],
)
def test_a_service_bus_uses_its_database_else_its_redis_else_memory(
    datastores: tuple[DatastoreConfig, ...], store: type, relays: bool
) -> None:
    config = ServiceConfig(name="thing-service", title="Things", package="thing_service", datastores=datastores)
    resources = Resources(config, Settings(database_url="sqlite+aiosqlite:///unused.db"))
    bus = EventBus.for_service(resources, make_topology((100, 200)), CATALOG)
    assert isinstance(bus.idempotency(), store)
    assert (bus.relay is not None) == relays
    assert bus.consume(QUEUE, {"thing.made": _ignore}).max_retries == 2


async def _ignore(_envelope: Envelope, _context: EventContext) -> None:
    return None


def _listed(vhost: str, command: str, *columns: str) -> list[dict[str, Any]]:
    rows = json.loads(rabbitmqctl("--formatter", "json", command, "-p", vhost, *columns) or "[]")
    for row in rows:
        row["arguments"] = {name: value for name, _kind, value in row.get("arguments", [])}
    return list(rows)


@pytest.mark.asyncio
async def test_declaring_the_topology_twice_gives_exactly_the_plain_data(broker: Broker) -> None:
    topology = make_topology((100, 200))
    await declare_topology(broker.channel, topology)
    await declare_topology(broker.channel, topology)
    exchanges = [
        e
        for e in _listed(broker.vhost, "list_exchanges", "name", "type", "durable", "internal", "arguments")
        if e["name"] and not e["name"].startswith("amq.")
    ]
    assert sorted(exchanges, key=lambda e: e["name"]) == topology["exchanges"]
    queues = _listed(broker.vhost, "list_queues", "name", "durable", "arguments")
    assert sorted(queues, key=lambda q: q["name"]) == topology["queues"]
    columns = ("source_name", "destination_name", "destination_kind", "routing_key", "arguments")
    bindings = {
        (b["source_name"], b["destination_name"], b["destination_kind"], b["routing_key"])
        for b in _listed(broker.vhost, "list_bindings", *columns)
        if b["source_name"]
    }
    assert bindings == {
        (b["source"], b["destination"], b["destination_type"], b["routing_key"]) for b in topology["bindings"]
    }
    async with await aio_pika.connect(broker.url) as connection:
        with pytest.raises(TopologyError, match=r"work\.retry\.1"):
            await declare_topology(await connection.channel(), make_topology((150, 200)))


@pytest.mark.asyncio
async def test_the_publisher_retries_while_the_broker_is_unreachable_and_notices_unroutable(
    broker: Broker, proxy: TcpProxy
) -> None:
    await declared(broker, make_topology(()))
    publisher = Publisher(proxy.url(broker.vhost), backoff=Backoff(0.05, 0.2, deadline=10.0), timeout=2.0)
    envelope = CATALOG.envelope("thing.made", {"n": 1})
    try:
        await proxy.cut()
        asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(proxy.restore()))
        started = time.monotonic()
        await publisher.publish(envelope, EXCHANGE, "thing.made")
        assert time.monotonic() - started >= 0.4
        [message] = await broker.take(QUEUE, 1)
        assert json.loads(message.body) == envelope.as_json()
        assert (message.message_id, message.correlation_id, message.content_type) == (
            envelope.event_id,
            envelope.correlation_id,
            "application/json",
        )
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        with pytest.raises(UnroutableError):
            await publisher.publish(envelope, EXCHANGE, "nobody.listens")
    finally:
        await publisher.close()


# --- the outbox -------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_outbox_relays_committed_events_only_and_once(sql: AsyncEngine, broker: Broker) -> None:
    await declared(broker, make_topology(()))
    sessions = async_sessionmaker(sql)
    committed = [CATALOG.envelope("thing.made", {"n": n}) for n in range(3)]
    async with sessions() as session, session.begin():
        for envelope in committed:
            await add_event(session, envelope, EXCHANGE, "thing.made")
        stray = CATALOG.envelope("thing.made", {"n": 98})
        await add_event(session, stray, EXCHANGE, "nobody.listens")  # unroutable: kept, retried later
    async with sessions() as session:
        await add_event(session, CATALOG.envelope("thing.made", {"n": 99}), EXCHANGE, "thing.made")
        await session.rollback()
    publisher = Publisher(broker.url, backoff=FAST)
    try:
        # The refused row waits a minute: the restarted relay below must not find it due, however slow the machine.
        assert await OutboxRelay(sessions, publisher, backoff=Backoff(60.0, 60.0, None)).relay_once() == 3
        # A restarted process finds nothing left to publish.
        assert await OutboxRelay(async_sessionmaker(sql), publisher).relay_once() == 0
    finally:
        await publisher.close()
    messages = await broker.take(QUEUE, 3)
    assert [json.loads(m.body) for m in messages] == [e.as_json() for e in committed]
    assert await broker.depth(QUEUE) == 0
    async with sql.connect() as connection:
        rows = (await connection.execute(select(outbox).order_by(outbox.c.id))).all()
    assert [row.event_id for row in rows] == [e.event_id for e in [*committed, stray]]
    assert all(row.published_at is not None and row.attempts == 1 for row in rows[:3])
    assert (rows[3].published_at, rows[3].attempts) == (None, 1)
    assert rows[3].last_error.startswith("UnroutableError: no queue is bound to 'events' for 'nobody.listens'")


@pytest.mark.asyncio
async def test_the_relay_deletes_published_rows_after_the_retention(sql: AsyncEngine, broker: Broker) -> None:
    """Published outbox rows (events may carry personal data) go after the retention; unpublished ones stay."""
    await declared(broker, make_topology(()))
    sessions = async_sessionmaker(sql)
    async with sessions() as session, session.begin():
        await add_event(session, CATALOG.envelope("thing.made", {"n": 1}), EXCHANGE, "thing.made")
        await add_event(session, CATALOG.envelope("thing.made", {"n": 2}), EXCHANGE, "nobody.listens")
    publisher = Publisher(broker.url, backoff=FAST)
    keeping = OutboxRelay(sessions, publisher, poll_interval=0.05, retention=3600)
    pruning = OutboxRelay(sessions, publisher, poll_interval=0.05, retention=0.3)
    try:
        assert await keeping.relay_once() == 1
        assert await keeping.prune_once() == 0
        assert await count(sql, outbox) == 2
        pruning.start()
        await eventually(lambda: _rows_left(sql, 1), what="the published row deleted")
        await pruning.stop()
    finally:
        await pruning.stop()
        await publisher.close()
    async with sql.connect() as connection:
        [left] = (await connection.execute(select(outbox))).all()
    assert left.published_at is None  # the unroutable row is kept and retried
    await broker.take(QUEUE, 1)


async def _rows_left(engine: AsyncEngine, number: int) -> bool:
    return await count(engine, outbox) == number


@pytest.mark.asyncio
async def test_events_stored_during_a_broker_outage_all_arrive_once_after_it(
    pg: AsyncEngine, broker: Broker, proxy: TcpProxy
) -> None:
    await declared(broker, make_topology(()))
    sessions = async_sessionmaker(pg)
    publisher = Publisher(proxy.url(broker.vhost), backoff=FAST, timeout=2.0)
    relay = OutboxRelay(sessions, publisher, batch_size=50, poll_interval=0.05, backoff=Backoff(0.05, 0.2, None))
    await proxy.cut()
    relay.start()
    stored = []
    try:
        for n in range(120):
            async with sessions() as session, session.begin():
                stored.append(CATALOG.envelope("thing.made", {"n": n}))
                await add_event(session, stored[-1], EXCHANGE, "thing.made")
                relay.wake_after_commit(session)
        await asyncio.sleep(0.5)  # the relay tries, fails and backs off meanwhile
        assert await broker.depth(QUEUE) == 0
        assert await count(pg, outbox) == 120
        await proxy.restore()
        messages = await broker.take(QUEUE, 120)
        await asyncio.sleep(0.3)
        assert await broker.depth(QUEUE) == 0
    finally:
        await relay.stop()
        await publisher.close()
    assert sorted(m.message_id or "" for m in messages) == sorted(e.event_id for e in stored)
    async with pg.connect() as connection:
        unpublished = await connection.execute(select(func.count()).where(outbox.c.published_at.is_(None)))
        assert unpublished.scalar_one() == 0


@pytest.mark.asyncio
async def test_a_cut_while_the_relay_publishes_loses_nothing(pg: AsyncEngine, broker: Broker, proxy: TcpProxy) -> None:
    await declared(broker, make_topology(()))
    sessions = async_sessionmaker(pg)
    stored = [CATALOG.envelope("thing.made", {"n": n}) for n in range(600)]
    async with sessions() as session, session.begin():
        for envelope in stored:
            await add_event(session, envelope, EXCHANGE, "thing.made")
    publisher = Publisher(proxy.url(broker.vhost), backoff=FAST, timeout=2.0)
    relay = OutboxRelay(sessions, publisher, batch_size=50, poll_interval=0.05, backoff=Backoff(0.05, 0.2, None))
    relay.start()
    try:
        await eventually(lambda: _more_than(broker, 0), what="the first messages")
        await proxy.cut()
        routed_before = await broker.depth(QUEUE)
        await asyncio.sleep(0.3)
        await proxy.restore()
        messages = await broker.take(QUEUE, len(stored), timeout=15)
        await eventually(lambda: _published(pg, len(stored)), what="every row marked published")
    finally:
        await relay.stop()
        await publisher.close()
    assert 0 < routed_before < len(stored), "the cut came too late to test anything"
    # At least once: a confirm lost in the cut may mean a copy; consumers deduplicate those by eventId.
    copies = [m.message_id async for m in _rest(broker)]
    assert {m.message_id for m in messages} | set(copies) == {e.event_id for e in stored}
    assert len(copies) <= 50  # at most the batch that was in flight


class KilledBeforeMark(OutboxRelay):
    """A relay that dies once after its batch is confirmed by the broker, before the rows are marked published."""

    killed = False

    async def _record(self, session: AsyncSession, rows: Any, results: Any) -> None:
        if not self.killed:
            self.killed = True
            raise ConnectionResetError("killed between publish and mark")
        await super()._record(session, rows, results)


@pytest.mark.asyncio
async def test_a_relay_killed_between_publish_and_mark_republishes_and_each_event_takes_effect_once(
    pg: AsyncEngine, broker: Broker
) -> None:
    await declared(broker, make_topology((100,)))
    sessions = async_sessionmaker(pg)
    stored = [CATALOG.envelope("thing.made", {"n": n}) for n in range(20)]
    async with sessions() as session, session.begin():
        for envelope in stored:
            await add_event(session, envelope, EXCHANGE, "thing.made")
    handled: list[str] = []
    outcomes: list[str] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        assert context.session is not None
        handled.append(envelope.event_id)
        await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))

    consumer = make_consumer(
        broker, SqlIdempotency(sessions), handler, max_retries=1, on_outcome=lambda *told: outcomes.append(told[2])
    )
    publisher = Publisher(broker.url, backoff=FAST)
    relay = KilledBeforeMark(sessions, publisher, batch_size=50, poll_interval=0.05, backoff=Backoff(0.05, 0.2, None))
    async with consuming(consumer, broker.url):
        relay.start()
        try:
            await eventually(lambda: _published(pg, len(stored)), what="every row marked published")
            await eventually(lambda: _true(len(outcomes) == 2 * len(stored)), what="both copies of each event settled")
        finally:
            await relay.stop()
            await publisher.close()
    assert relay.killed
    assert outcomes.count("ok") == len(stored), "the republished copies are duplicates"
    assert outcomes.count("duplicate") == len(stored)
    assert sorted(handled) == sorted(e.event_id for e in stored), "no handler ran twice"
    assert await count(pg, effects) == len(stored)
    assert await count(pg, processed_events) == len(stored)


async def count_published(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).where(outbox.c.published_at.is_not(None))
        return int((await connection.execute(query)).scalar_one())


async def _published(engine: AsyncEngine, number: int) -> bool:
    return await count_published(engine) == number


async def _more_than(broker: Broker, number: int) -> bool:
    return await broker.depth(QUEUE) > number


async def _rest(broker: Broker) -> AsyncIterator[AbstractIncomingMessage]:
    """Whatever else the queue holds (duplicates)."""
    source = await broker.channel.get_queue(QUEUE, ensure=False)
    while (message := await source.get(no_ack=True, fail=False)) is not None:
        yield message


# --- consuming -------------------------------------------------------------------------------------------------------


class CutAfterCommit:
    """The SQL store, but the first delivery's connection is cut right after its transaction commits."""

    def __init__(self, store: SqlIdempotency, proxy: TcpProxy) -> None:
        self.store = store
        self.proxy = proxy
        self.deliveries: list[bool] = []

    @asynccontextmanager
    async def processing(self, event_id: str, queue: str) -> AsyncIterator[Processing]:
        """The store's processing, then the cut after the first delivery's commit."""
        async with self.store.processing(event_id, queue) as processing:
            self.deliveries.append(processing.duplicate)
            yield processing
        if len(self.deliveries) == 1:
            await self.proxy.cut()  # killed after its effect committed, before its ack


@pytest.mark.asyncio
async def test_a_consumer_killed_before_its_ack_processes_the_event_once(
    pg: AsyncEngine, broker: Broker, proxy: TcpProxy
) -> None:
    await declared(broker, make_topology((100,)))
    sessions = async_sessionmaker(pg)
    store = CutAfterCommit(SqlIdempotency(sessions), proxy)

    async def handler(envelope: Envelope, context: EventContext) -> None:
        assert context.session is not None
        await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))

    consumer = make_consumer(broker, store, handler, max_retries=1)
    async with consuming(consumer, proxy.url(broker.vhost)):
        await broker.publish(CATALOG.envelope("thing.made", {"n": 7}).body())
        await eventually(lambda: _true(len(store.deliveries) == 1), what="the first delivery")
        await asyncio.sleep(0.2)
        await proxy.restore()
        await eventually(lambda: _true(len(store.deliveries) == 2), what="the redelivery")
        await eventually(lambda: _empty(broker, QUEUE), what="the ack")
    assert store.deliveries == [False, True]
    assert await count(pg, effects) == 1
    assert await count(pg, processed_events) == 1
    assert await broker.depth(f"{QUEUE}.dlq") == 0


async def _true(value: bool) -> bool:
    return value


async def _empty(broker: Broker, queue: str) -> bool:
    """No message ready and none unacked (a passive declare counts only ready ones, so ask rabbitmqctl too)."""
    if await broker.depth(queue):
        return False
    rows = json.loads(rabbitmqctl("--formatter", "json", "list_queues", "-p", broker.vhost, "name", "messages"))
    return all(row["messages"] == 0 for row in rows if row["name"] == queue)


@pytest.mark.asyncio
async def test_a_handler_failing_twice_succeeds_once_after_the_backoff_delays(broker: Broker) -> None:
    delays = (100, 200, 400)
    await declared(broker, make_topology(delays))
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"planforge-test:{uuid.uuid4().hex}:"
    calls: list[tuple[float, int]] = []
    done: list[str] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        calls.append((time.monotonic(), context.attempt))
        if len(calls) <= 2:
            raise RuntimeError(f"attempt {context.attempt} fails")
        done.append(envelope.event_id)

    envelope = CATALOG.envelope("thing.made", {"n": 1})
    consumer = make_consumer(broker, RedisIdempotency(redis, prefix=prefix), handler, max_retries=len(delays))
    try:
        async with consuming(consumer, broker.url):
            await broker.publish(envelope.body())
            await eventually(lambda: _true(len(done) == 1), what="the success")
            await eventually(lambda: _empty(broker, QUEUE), what="the ack")
            await broker.publish(envelope.body())  # and a late duplicate changes nothing
            await eventually(lambda: _empty(broker, QUEUE), what="the duplicate's ack")
        assert await redis.get(f"{prefix}{QUEUE}:{envelope.event_id}") == b"done"
    finally:
        await redis.delete(*[key async for key in redis.scan_iter(f"{prefix}*")])
        await redis.aclose()
    assert [attempt for _, attempt in calls] == [1, 2, 3]
    assert done == [envelope.event_id]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(calls)]
    assert gaps[0] >= delays[0] / 1000, gaps
    assert gaps[1] >= delays[1] / 1000, gaps
    assert await broker.depth(f"{QUEUE}.dlq") == 0


@pytest.mark.asyncio
async def test_a_handler_that_always_fails_ends_in_the_dead_letter_queue_and_compensates(broker: Broker) -> None:
    await declared(broker, make_topology((50, 100, 150)))
    attempts: list[int] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        attempts.append(context.attempt)
        raise ValueError(f"cannot make thing {envelope.data['n']}")

    envelope = CATALOG.envelope("thing.made", {"n": 5})
    compensation = Compensation("thing.failed")
    consumer = make_consumer(broker, MemoryIdempotency(), handler, max_retries=3, compensation=compensation)
    async with consuming(consumer, broker.url):
        await broker.publish(envelope.body())
        [dead] = await broker.take(f"{QUEUE}.dlq", 1, timeout=10)
        [compensating] = await broker.take(COMPENSATIONS, 1)
    assert attempts == [1, 2, 3, 4]
    assert dead.body == envelope.body()
    assert dead.routing_key == "thing.made"
    assert dead.headers[ERROR_HEADER] == "ValueError: cannot make thing 5"
    assert (dead.headers[ATTEMPTS_HEADER], dead.headers[POISON_HEADER]) == (4, False)
    event = json.loads(compensating.body)
    assert (event["eventType"], event["correlationId"]) == ("thing.failed", envelope.correlation_id)
    assert event["data"]["failedEventId"] == envelope.event_id
    assert event["data"]["reason"] == "ValueError: cannot make thing 5"
    for queue in (QUEUE, f"{QUEUE}.retry.1", f"{QUEUE}.retry.2", f"{QUEUE}.retry.3", f"{QUEUE}.dlq"):
        assert await broker.depth(queue) == 0, queue


@pytest.mark.asyncio
async def test_poison_goes_straight_to_the_dead_letter_queue_with_its_reason(broker: Broker) -> None:
    await declared(broker, make_topology((5000,)))  # a retry would take 5 s: poison must not take one
    called: list[str] = []

    async def handler(envelope: Envelope, _context: EventContext) -> None:
        called.append(envelope.event_id)

    unknown = CATALOG.envelope("thing.failed", {"failedEventId": "x", "reason": "y"}).as_json()
    invalid = CATALOG.envelope("thing.made", {"n": 1}).as_json() | {"data": {"n": -1}}
    bodies = {
        b"not json at all": "EnvelopeError: body is not JSON",
        b'{"hello": "world"}': "EnvelopeError: envelope field 'eventId' is missing",
        json.dumps(unknown).encode(): "UnknownEventError: unknown event type 'thing.failed'",
        json.dumps(
            invalid
        ).encode(): "EventValidationError: event 'thing.made' is invalid at data.n: is less than the minimum of 0",
    }
    consumer = make_consumer(
        broker, MemoryIdempotency(), handler, max_retries=1, compensation=Compensation("thing.failed")
    )
    started = time.monotonic()
    async with consuming(consumer, broker.url):
        for body in bodies:
            await broker.publish(body)
        dead = await broker.take(f"{QUEUE}.dlq", len(bodies), timeout=4)
        [compensating] = await broker.take(COMPENSATIONS, 1)
    assert time.monotonic() - started < 4.5
    assert called == []
    reasons = {m.body: str(m.headers[ERROR_HEADER]) for m in dead}
    assert all(reasons[body].startswith(start) for body, start in bodies.items()), reasons
    assert all(m.headers[POISON_HEADER] is True and m.headers[ATTEMPTS_HEADER] == 1 for m in dead)
    assert json.loads(compensating.body)["data"]["failedEventId"] == invalid["eventId"]
    assert await broker.depth(f"{QUEUE}.retry.1") == 0


# --- no personal data in logs or dead-letter headers -------------------------------------------------------------

PII_FIELDS = frozenset({"email", "passwordHash"})
PII_CATALOG = EventCatalog(
    [
        EventSpec(
            "user.made",
            EXCHANGE,
            "thing.made",
            {
                "type": "object",
                "required": ["email", "passwordHash", "fail"],
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "passwordHash": {"type": "string", "minLength": 8},
                    "fail": {"enum": ["database", "handler"]},
                },
            },
        )
    ]
)
PII_SAMPLES = ("pii.alice@example.com", "pii.bob@@example.com", "pii.carol@example.com", "$argon2id$pii-hash-1")
users_metadata = MetaData()
users = Table("pii_users", users_metadata, Column("email", String(200), unique=True), Column("hash", String(200)))


class LogLines(logging.Handler):
    """Every log record as the services write it (JsonFormatter, PII fields masked)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(JsonFormatter(PII_FIELDS))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record as its formatted line."""
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def log_lines() -> Iterator[LogLines]:
    """Every test of this module: its log lines hold no PII sample value."""
    handler = LogLines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    leaked = [(value, line) for line in handler.lines for value in PII_SAMPLES if value in line]
    assert not leaked, f"personal data in log lines: {leaked[:3]}"


@pytest.mark.asyncio
async def test_failing_consumers_leak_no_personal_data_into_logs_or_dead_letters(
    broker: Broker, postgres_url: str, log_lines: LogLines
) -> None:
    """A database error (bound parameters, DETAIL), a schema error on an email and a handler's own message."""
    await declared(broker, make_topology((50,)))
    config = ServiceConfig(
        name="user-service",
        title="Users",
        package="user_service",
        datastores=(DatastoreConfig("user-db", "postgres", owned=True),),
        pii_fields=tuple(PII_FIELDS),
    )
    resources = Resources(config, Settings(database_url=postgres_url.replace("postgresql+asyncpg", "postgresql")))
    async with resources.engine.begin() as connection:
        await connection.run_sync(users_metadata.drop_all)
        await connection.run_sync(users_metadata.create_all)
        await connection.execute(insert(users).values(email="pii.alice@example.com", hash="taken"))

    async def handler(envelope: Envelope, _context: EventContext) -> None:
        data = envelope.data
        if data["fail"] == "database":  # the email is taken: a unique violation quoting it
            async with resources.engine.begin() as connection:
                await connection.execute(insert(users).values(email=data["email"], hash=data["passwordHash"]))
        raise RuntimeError(f"cannot welcome {data['email']} with {data['passwordHash']}")

    events = [
        PII_CATALOG.envelope("user.made", {"email": email, "passwordHash": "$argon2id$pii-hash-1", "fail": fail})
        for email, fail in (("pii.alice@example.com", "database"), ("pii.carol@example.com", "handler"))
    ]
    invalid = events[1].as_json() | {
        "eventId": str(uuid.uuid4()),
        "data": {"email": "pii.bob@@example.com", "passwordHash": "$argon2id$pii-hash-1", "fail": "handler"},
    }
    publisher = Publisher(broker.url, backoff=FAST)
    consumer = Consumer(
        QUEUE,
        {"user.made": handler},
        catalog=PII_CATALOG,
        store=MemoryIdempotency(),
        publisher=publisher,
        max_retries=1,
        pii_fields=PII_FIELDS,
    )
    try:
        async with consuming(consumer, broker.url):
            for body in [e.body() for e in events] + [json.dumps(invalid).encode()]:
                await broker.publish(body)
            dead = await broker.take(f"{QUEUE}.dlq", 3, timeout=10)
    finally:
        await resources.close()
    headers = [json.dumps({k: str(v) for k, v in (m.headers or {}).items()}) for m in dead]
    leaked = [(value, text) for text in headers + log_lines.lines for value in PII_SAMPLES if value in text]
    assert not leaked, f"personal data in dead-letter headers or logs: {leaked[:3]}"
    reasons = sorted(str((m.headers or {})[ERROR_HEADER]) for m in dead)
    assert reasons[0].startswith(
        "EventValidationError: event 'user.made' is invalid at data.email: is not a valid email"
    )
    assert reasons[1].startswith("IntegrityError: database error ("), reasons[1]
    assert "pii_users" in reasons[1], reasons[1]
    assert reasons[2] == "RuntimeError: cannot welcome *** with ***"


@pytest.mark.asyncio
async def test_metric_labels_take_only_the_catalogs_event_names(broker: Broker) -> None:
    """A poison message's AMQP type or eventType never becomes a label: anyone who can publish could grow them."""
    await declared(broker, make_topology((5000,)))
    outcomes: list[tuple[str, str, str]] = []
    consumer = make_consumer(
        broker, MemoryIdempotency(), _ignore, max_retries=1, on_outcome=lambda *o: outcomes.append(o)
    )
    envelope = CATALOG.envelope("thing.made", {"n": 1}).as_json()
    exchange = await broker.channel.get_exchange(EXCHANGE, ensure=False)
    async with consuming(consumer, broker.url):
        for index in range(3):
            forged = envelope | {"eventId": str(uuid.uuid4()), "eventType": f"forged.type.{index}"}
            for body in (b"not json", json.dumps(forged).encode()):
                await exchange.publish(aio_pika.Message(body, type=f"attacker-{index}"), "thing.made")
        await broker.take(f"{QUEUE}.dlq", 6, timeout=10)
    assert {event for _, event, _ in outcomes} == {"unknown"}, outcomes
    assert len(outcomes) == 6


def test_a_catalog_with_models_publishes_and_hands_out_typed_payloads() -> None:
    """A model instance names its event and becomes JSON data (fields never set stay absent); consumers get
    the data back as the model; the schema still decides what is valid."""
    from pydantic import BaseModel, RootModel

    class ThingMade(BaseModel):
        n: int
        tag: str | None = None

    class Label(RootModel[str]):
        pass

    class Stranger(BaseModel):
        n: int

    made = EventSpec("thing.made", EXCHANGE, "thing.made", CATALOG.spec("thing.made").schema, model=ThingMade)
    catalog = EventCatalog([made, EventSpec("label.set", EXCHANGE, "label.set", {"type": "string"}, model=Label)])
    assert catalog.payload(ThingMade(n=3)) == ("thing.made", {"n": 3})
    assert catalog.payload(Label("x")) == ("label.set", "x")
    assert catalog.payload("thing.made", ThingMade(n=1, tag="t")) == ("thing.made", {"n": 1, "tag": "t"})
    assert catalog.payload("thing.made", {"n": 2}) == ("thing.made", {"n": 2})
    with pytest.raises(UnknownEventError):
        catalog.payload(Stranger(n=1))
    typed = catalog.typed("thing.made", {"n": 4, "tag": "t"})
    assert isinstance(typed, ThingMade)
    assert typed.tag == "t"
    assert catalog.typed("label.set", "y") == Label("y")
    assert catalog.envelope("thing.made", ThingMade(n=5)).data == {"n": 5}
    with pytest.raises(EventValidationError, match=r"data\.n"):
        catalog.envelope("thing.made", ThingMade(n=-1))


def test_the_event_email_check_is_the_api_email_check() -> None:
    """Event data and API bodies (pydantic EmailStr) accept and refuse the same addresses."""
    from pydantic import BaseModel, EmailStr, ValidationError

    class Body(BaseModel):
        email: EmailStr

    catalog = EventCatalog([EventSpec("e.x", EXCHANGE, "e.x", {"properties": {"email": {"format": "email"}}})])
    for address in ("a@@b.com", "a@b", "a b@c.com", "@b.com", "a@b.com", "first.last@example.co.uk", "a@[1.2.3.4]"):
        try:
            Body(email=address)
            api = True
        except ValidationError:
            api = False
        try:
            catalog.validate("e.x", {"email": address})
            event = True
        except EventValidationError:
            event = False
        assert api == event, (address, api, event)
    with pytest.raises(EventValidationError):
        catalog.validate("e.x", {"email": "a@@b.com"})


STORES = ["postgres", "sqlite", "redis", "memory"]


@asynccontextmanager
async def _store(kind: str, postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[IdempotencyStore, Any]]:
    """An idempotency store of each kind, and its engine (SQL) or None."""
    if kind in ("postgres", "sqlite"):
        async with _engine(_database_url(kind, postgres_url, tmp_path)) as engine:
            yield SqlIdempotency(async_sessionmaker(engine)), engine
    elif kind == "redis":
        redis = Redis.from_url("redis://127.0.0.1:6379/0")
        prefix = f"planforge-test:{uuid.uuid4().hex}:"
        try:
            yield RedisIdempotency(redis, prefix=prefix), None
        finally:
            await redis.delete(*[key async for key in redis.scan_iter(f"{prefix}*")])
            await redis.aclose()
    else:
        yield MemoryIdempotency(), None


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", STORES)
async def test_a_duplicated_publish_is_processed_once(
    kind: str, broker: Broker, postgres_url: str, tmp_path: Path
) -> None:
    await declared(broker, make_topology((100,)))
    handled: list[str] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        handled.append(envelope.event_id)
        if context.session is not None:
            await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))
        await asyncio.sleep(0.05)  # the copies arrive together: they must wait for each other, not both run

    envelopes = [CATALOG.envelope("thing.made", {"n": n}) for n in range(3)]
    async with _store(kind, postgres_url, tmp_path) as (store, engine):
        async with consuming(make_consumer(broker, store, handler, max_retries=1), broker.url):
            for envelope in envelopes:
                for _ in range(3):
                    await broker.publish(envelope.body())
            await eventually(lambda: _true(len(handled) >= 3), what="the handlers")
            await eventually(lambda: _empty(broker, QUEUE), what="the acks")
        if engine is not None:
            assert await count(engine, effects) == 3
            assert await count(engine, processed_events) == 3
    assert sorted(handled) == sorted(e.event_id for e in envelopes)
    assert await broker.depth(f"{QUEUE}.dlq") == 0


# --- the whole bus ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_event_bus_relays_consumes_and_emits_in_one_transaction_on_sqlite(vhost: str, tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as connection:
        await connection.run_sync(effects_metadata.create_all)
    bus = EventBus(amqp_url(vhost), make_topology((100,)), CATALOG, sessions=sessions, backoff=FAST)

    async def handler(envelope: Envelope, context: EventContext) -> None:
        assert context.session is not None
        await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))
        await context.emit("thing.failed", {"failedEventId": envelope.event_id, "reason": "just to emit"})

    bus.consume(QUEUE, {"thing.made": handler})
    await bus.start()
    try:
        await bus.ready()
        stored = await _stage(bus, sessions, 5)
        async with await aio_pika.connect(amqp_url(vhost)) as link:
            emitted = await Broker(vhost, await link.channel()).take(COMPENSATIONS, 5)
    finally:
        await bus.stop()
        await engine.dispose()
    assert {json.loads(m.body)["data"]["failedEventId"] for m in emitted} == {e.event_id for e in stored}
    assert {m.correlation_id for m in emitted} == {e.correlation_id for e in stored}


async def _stage(bus: EventBus, sessions: Callable[[], AsyncSession], number: int) -> list[Envelope]:
    stored = []
    for n in range(number):
        async with sessions() as session, session.begin():
            stored.append(await bus.stage(session, "thing.made", {"n": n}))
    return stored


# --- batches: one transaction for the deliveries in hand, a savepoint each (PostgreSQL) -----------------------------


@pytest.mark.asyncio
async def test_in_a_batch_a_failing_handler_rolls_back_only_its_own_effects(pg: AsyncEngine, broker: Broker) -> None:
    await declared(broker, make_topology((100,)))
    transactions: list[int] = []
    calls: list[tuple[int, int]] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        assert context.session is not None
        transactions.append((await context.session.execute(text("SELECT txid_current()"))).scalar_one())
        calls.append((envelope.data["n"], context.attempt))
        await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))
        if envelope.data["n"] == 3 and context.attempt == 1:
            raise RuntimeError("the fourth handler fails once, after writing its effect")

    for n in range(8):  # queued before the consumer starts, so its first deliveries arrive together
        await broker.publish(CATALOG.envelope("thing.made", {"n": n}).body())
    consumer = make_consumer(broker, SqlIdempotency(async_sessionmaker(pg)), handler, max_retries=1)
    async with consuming(consumer, broker.url):
        await eventually(lambda: _true((3, 2) in calls), what="the retry of the failed delivery")
        await eventually(lambda: _empty(broker, QUEUE), what="the acks")
    assert len(set(transactions)) < len(transactions), "deliveries shared a transaction"
    assert await count(pg, effects) == 8, "the failed attempt's effect was rolled back, the others' kept"
    assert await count(pg, processed_events) == 8
    assert sorted(n for n, attempt in calls if attempt == 1) == list(range(8))
    assert await broker.depth(f"{QUEUE}.dlq") == 0


@pytest.mark.asyncio
async def test_in_a_batch_only_handlers_that_use_the_database_pay_a_savepoint(pg: AsyncEngine, broker: Broker) -> None:
    await declared(broker, make_topology((100,)))
    calls: list[tuple[int, int]] = []
    savepoints: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SAVEPOINT"):
            savepoints.append(statement)

    async def handler(envelope: Envelope, context: EventContext) -> None:
        n = envelope.data["n"]
        calls.append((n, context.attempt))
        if n % 2 == 0:  # even events write an effect, odd ones never touch the session
            assert context.session is not None
            await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=n))
        if n in (3, 4) and context.attempt == 1:
            raise RuntimeError("one handler of each kind fails once (the writing one after its write)")

    for n in range(8):  # queued before the consumer starts, so its first deliveries arrive together
        await broker.publish(CATALOG.envelope("thing.made", {"n": n}).body())
    consumer = make_consumer(broker, SqlIdempotency(async_sessionmaker(pg)), handler, max_retries=1)
    sqlalchemy_event.listen(pg.sync_engine, "before_cursor_execute", seen)
    try:
        async with consuming(consumer, broker.url):
            await eventually(lambda: _true({(3, 2), (4, 2)} <= set(calls)), what="the retries of the failed deliveries")
            await eventually(lambda: _empty(broker, QUEUE), what="the acks")
    finally:
        sqlalchemy_event.remove(pg.sync_engine, "before_cursor_execute", seen)
    assert sorted(n for n, attempt in calls if attempt == 1) == list(range(8))
    async with pg.connect() as connection:
        written = (await connection.execute(select(effects.c.n))).scalars().all()
    assert sorted(written) == [0, 2, 4, 6], "the failed write was rolled back alone, its retry's kept"
    assert await count(pg, processed_events) == 8
    assert len(savepoints) == 5, "a savepoint for each delivery that wrote (four, and the retry of one), no other"
    assert await broker.depth(f"{QUEUE}.dlq") == 0


@pytest.mark.asyncio
async def test_events_emitted_in_a_batch_are_relayed_once_the_batch_commits(pg: AsyncEngine, vhost: str) -> None:
    sessions = async_sessionmaker(pg, expire_on_commit=False)
    # The relay polls once an hour: only the wake-up after the batch's commit can send the emitted events.
    bus = EventBus(amqp_url(vhost), make_topology((100,)), CATALOG, sessions=sessions, backoff=FAST, poll_interval=3600)

    async def handler(envelope: Envelope, context: EventContext) -> None:
        await context.emit("thing.failed", {"failedEventId": envelope.event_id, "reason": "emitted in a batch"})

    bus.consume(QUEUE, {"thing.made": handler}, prefetch=20)
    await bus.start()
    try:
        await bus.ready()
        sent = [CATALOG.envelope("thing.made", {"n": n}) for n in range(10)]
        async with await aio_pika.connect(amqp_url(vhost)) as link:
            broker = Broker(vhost, await link.channel())
            for envelope in sent:
                await broker.publish(envelope.body())
            emitted = await broker.take(COMPENSATIONS, len(sent), timeout=10)
    finally:
        await bus.stop()
    assert sorted(json.loads(m.body)["data"]["failedEventId"] for m in emitted) == sorted(e.event_id for e in sent)


@pytest.mark.asyncio
async def test_a_batch_claims_its_events_with_one_statement_whatever_its_size(pg: AsyncEngine) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO processed_events"):
            statements.append(statement)

    store = SqlIdempotency(async_sessionmaker(pg))
    sqlalchemy_event.listen(pg.sync_engine, "before_cursor_execute", seen)
    try:
        claimed = []
        for size in (1, 3, 7):
            ids = [str(uuid.uuid4()) for _ in range(size)]
            async with store.batch() as transaction:
                await transaction.claim([*ids, ids[0]], QUEUE)  # a copy in the same batch is claimed once
                for event_id in [*ids, ids[0]]:
                    async with transaction.processing(event_id, QUEUE) as claim:
                        claimed.append(not claim.duplicate)
    finally:
        sqlalchemy_event.remove(pg.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 3, "one statement, compiled and prepared once"
    assert len(set(statements)) == 1, "one statement, compiled and prepared once"
    assert claimed.count(True) == 11
    assert claimed.count(False) == 3
    assert await count(pg, processed_events) == 11


class Effect:
    """An effects row as an ORM object, for handlers that change what they loaded."""

    event_id: str
    n: int


registry().map_imperatively(Effect, effects, primary_key=[effects.c.event_id])


@pytest.mark.asyncio
async def test_in_a_batch_a_change_made_after_the_handlers_own_commit_is_kept(pg: AsyncEngine) -> None:
    loaded_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with pg.begin() as connection:
        await connection.execute(insert(effects).values(event_id=loaded_id, n=1))
    store = SqlIdempotency(async_sessionmaker(pg, expire_on_commit=False))
    async with store.batch() as transaction:
        await transaction.claim([loaded_id, other_id], QUEUE)
        async with transaction.processing(loaded_id, QUEUE) as claim:
            assert claim.session is not None
            effect = (await claim.session.execute(select(Effect))).scalar_one()
            await claim.session.commit()  # the handler commits (its savepoint), then changes what it loaded
            effect.n = 2
        async with transaction.processing(other_id, QUEUE) as claim:  # one that never touches the database
            assert claim.session is not None
            assert not claim.duplicate
    async with pg.connect() as connection:
        assert (await connection.execute(select(effects.c.n))).scalar_one() == 2, "flushed with the batch"
    assert await count(pg, processed_events) == 2


@pytest.mark.asyncio
async def test_in_a_batch_a_session_left_unused_serves_the_next_delivery_and_a_used_one_does_not(
    pg: AsyncEngine,
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    store = SqlIdempotency(async_sessionmaker(pg, info={"service": "things"}))
    sessions: list[AsyncSession] = []
    loaded: Effect | None = None
    async with store.batch() as transaction:
        await transaction.claim(ids, QUEUE)
        for n, event_id in enumerate(ids):
            async with transaction.processing(event_id, QUEUE) as claim:
                assert claim.session is not None
                sessions.append(claim.session)
                assert claim.session.info == {"service": "things"}, "set back after the delivery before"
                claim.session.info["delivery"] = n
                if n == 1:  # the second delivery writes and loads; the others never touch the database
                    await claim.session.execute(insert(effects).values(event_id=event_id, n=n))
                    loaded = (await claim.session.execute(select(Effect))).scalar_one()  # held: stays in the session
    assert sessions[1] is sessions[0], "the first delivery left its session unused"
    assert sessions[2] is not sessions[1], "the second used it (and holds what it loaded): the third gets a new one"
    assert sessions[3] is sessions[2]
    assert loaded is not None
    assert await count(pg, effects) == 1
    assert await count(pg, processed_events) == 4


class CutAfterBatchCommit(SqlIdempotency):
    """The SQL store, but the connection to the broker is cut right after the first batch commits."""

    def __init__(self, sessions: Callable[[], AsyncSession], proxy: TcpProxy) -> None:
        super().__init__(sessions)
        self.proxy = proxy
        self.committed = 0

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Any]:
        """The store's batch, then the cut after the first batch commits."""
        async with super().batch() as transaction:
            yield transaction
        self.committed += 1
        if self.committed == 1:
            await self.proxy.cut()  # committed, not yet acked


@pytest.mark.asyncio
async def test_a_batch_committed_but_not_acked_is_processed_once(
    pg: AsyncEngine, broker: Broker, proxy: TcpProxy
) -> None:
    await declared(broker, make_topology((100,)))
    handled: list[str] = []

    async def handler(envelope: Envelope, context: EventContext) -> None:
        assert context.session is not None
        handled.append(envelope.event_id)
        await context.session.execute(insert(effects).values(event_id=envelope.event_id, n=envelope.data["n"]))

    envelopes = [CATALOG.envelope("thing.made", {"n": n}) for n in range(6)]
    for envelope in envelopes:
        await broker.publish(envelope.body())
    store = CutAfterBatchCommit(async_sessionmaker(pg), proxy)
    async with consuming(make_consumer(broker, store, handler, max_retries=1), proxy.url(broker.vhost)):
        await eventually(lambda: _true(store.committed >= 1), what="the first batch")
        await asyncio.sleep(0.2)
        await proxy.restore()
        await eventually(lambda: _empty(broker, QUEUE), what="the acks after the redelivery")
    assert sorted(handled) == sorted(e.event_id for e in envelopes), "no handler ran twice"
    assert await count(pg, effects) == 6
    assert await count(pg, processed_events) == 6
    assert await broker.depth(f"{QUEUE}.dlq") == 0
