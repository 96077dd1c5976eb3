"""Benchmark (not a test): events per second end to end, outbox -> RabbitMQ -> consumer, against raw aio-pika.

planforge: N events committed to the PostgreSQL outbox, then relayed (publisher confirms, rows marked published)
to a consumer that records each eventId in processed_events in its own transaction before acking.
Raw baseline: the same N persistent messages published with confirms (in windows as wide as the relay's batch)
to a consumer that only acks. Both run in the same fresh vhost, interleaved, several times; medians are printed
with their ratio. A fresh database and vhost are made for the run and removed afterwards.

    .venv/bin/python benchmarks/messaging.py --events 2000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from planforge.model import Binding, Queue  # noqa: E402
from planforge_runtime.messaging import (  # noqa: E402
    Envelope,
    EventBus,
    EventCatalog,
    EventContext,
    EventSpec,
    MemoryIdempotency,
    add_event,
    create_tables,
    outbox,
    processed_events,
)
from planforge.topology import ExchangeSpec, Topology, queue_topology  # noqa: E402
from tests.rabbit import amqp_url, fresh_vhost  # noqa: E402

EXCHANGE, QUEUE, RAW = "bench", "bench-queue", "raw-queue"
BATCH = 200
PREFETCH = 50  # deliveries in hand: batched consumers share one connection per batch
CATALOG = EventCatalog(
    [
        EventSpec(
            "bench.happened",
            EXCHANGE,
            "bench.happened",
            {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
        )
    ]
)


def topology() -> Topology:
    """The planforge queue (with a retry chain, as generated services have) and a plain queue for the baseline."""
    queue = queue_topology(Queue(QUEUE, True, None, (Binding(QUEUE, EXCHANGE, "bench.happened"),), ()), (500,), True)
    raw = queue_topology(Queue(RAW, True, None, (Binding(RAW, EXCHANGE, "raw"),), ()), (), False)
    exchange = ExchangeSpec(name=EXCHANGE, type="direct", durable=True, internal=False, arguments={})
    return Topology(
        exchanges=[exchange, *queue["exchanges"], *raw["exchanges"]],
        queues=[*queue["queues"], *raw["queues"]],
        bindings=[*queue["bindings"], *raw["bindings"]],
    )


async def raw_baseline(url: str, events: int) -> float:
    """Seconds to publish events persistent messages with confirms and consume them with acks."""
    async with await aio_pika.connect(url) as publishing, await aio_pika.connect(url) as consuming:
        received = 0
        done = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == events:
                done.set()

        channel = await consuming.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        await (await channel.get_queue(RAW, ensure=False)).consume(on_message)
        confirms = await publishing.channel(publisher_confirms=True)
        exchange = await confirms.get_exchange(EXCHANGE, ensure=False)
        bodies = [CATALOG.envelope("bench.happened", {"n": n}).body() for n in range(events)]
        started = time.perf_counter()
        for first in range(0, events, BATCH):
            await asyncio.gather(
                *(
                    exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "raw")
                    for body in bodies[first : first + BATCH]
                )
            )
        await asyncio.wait_for(done.wait(), 120)
        return time.perf_counter() - started


async def planforge_end_to_end(
    url: str, engine: AsyncEngine, events: int, in_memory: bool = False
) -> tuple[float, float]:
    """Seconds to commit events to the outbox one transaction each, and seconds from their commit until the
    consumer has handled and acked them all (relay with confirms, processed_events or in memory, ack)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as connection:
        await connection.execute(delete(outbox))
        await connection.execute(delete(processed_events))
    handled = 0
    done = asyncio.Event()

    async def handler(envelope: Envelope, context: EventContext) -> None:
        nonlocal handled
        handled += 1
        if handled == events:
            done.set()

    bus = EventBus(url, topology(), CATALOG, sessions=sessions, poll_interval=3600)
    bus.consume(QUEUE, {"bench.happened": handler}, prefetch=PREFETCH, store=MemoryIdempotency() if in_memory else None)
    await bus.start()
    try:
        await bus.ready()
        staged = time.perf_counter()
        for n in range(events):
            async with sessions() as session, session.begin():
                await add_event(session, CATALOG.envelope("bench.happened", {"n": n}), EXCHANGE, "bench.happened")
        started = time.perf_counter()
        assert bus.relay is not None
        bus.relay.wake()
        await asyncio.wait_for(done.wait(), 300)
        return started - staged, time.perf_counter() - started
    finally:
        await bus.stop()


async def _admin() -> asyncpg.Connection:
    for user in ("postgres", "root"):
        try:
            return await asyncpg.connect(host="127.0.0.1", port=5432, user=user, database="test")
        except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
            continue
    raise RuntimeError("no PostgreSQL role to create the benchmark database with")


async def run(vhost: str, events: int, runs: int) -> None:
    """Create the database, run the interleaved measurements, print the figures, drop the database."""
    name = f"pf_bench_{uuid.uuid4().hex}"
    admin = await _admin()
    user = admin.get_settings().session_authorization
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_async_engine(f"postgresql+asyncpg://{user}@127.0.0.1:5432/{name}", pool_size=10)
    try:
        await create_tables(engine)
        raw, staging, relayed, in_memory = [], [], [], []
        for _ in range(runs):
            raw.append(await raw_baseline(amqp_url(vhost), events))
            stage_seconds, relay_seconds = await planforge_end_to_end(amqp_url(vhost), engine, events)
            staging.append(stage_seconds)
            relayed.append(relay_seconds)
            in_memory.append((await planforge_end_to_end(amqp_url(vhost), engine, events, in_memory=True))[1])
        medians = [statistics.median(figures) for figures in (raw, relayed, in_memory, staging)]
        report(events, runs, *medians)
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def report(events: int, runs: int, raw: float, relayed: float, in_memory: float, staging: float) -> None:
    """Print events per second of each path, and the ratio of planforge's to the raw baseline."""
    print(f"messaging: {events} events, median of {runs} runs (this machine; compare ratios, not absolutes)")
    print(f"  raw aio-pika: publish (confirms) -> consume (acks)            {events / raw:7.0f} events/s")
    print("  planforge: outbox -> relay (confirms) -> consumer (acks),")
    print(f"    idempotency in PostgreSQL (processed_events, the default)   {events / relayed:7.0f} events/s")
    print(f"  ratio planforge / raw                                           {raw / relayed:7.2f}")
    print(f"  for comparison: the same with idempotency in memory          {events / in_memory:7.0f} events/s")
    print(f"  and the producer's outbox writes, one transaction each        {events / staging:7.0f} events/s")


def main() -> None:
    """Parse the arguments and run the benchmark in a fresh vhost."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with fresh_vhost("planforge-bench") as vhost:
        asyncio.run(_declared_then_run(vhost, args.events, args.runs))


async def _declared_then_run(vhost: str, events: int, runs: int) -> None:
    async with await aio_pika.connect(amqp_url(vhost)) as connection:
        from planforge_runtime.messaging import declare_topology

        await declare_topology(await connection.channel(), topology())
    await run(vhost, events, runs)


if __name__ == "__main__":
    main()
