"""Helpers for the event contract tests planforge generates (tests/test_events_contract.py).

They check, per feature: every event's examples against its schema, that a producer refuses invalid data,
that each user-owned consumer accepts the examples, and that the topology routes every published key to
exactly the queues of the event's consumers, in a fresh vhost of the real RabbitMQ.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
from fastapi import FastAPI
from planforge_runtime.events import ServiceBus
from planforge_runtime.messaging import Envelope, EventCatalog, EventContext, Publisher, declare_topology
from planforge_runtime.samples import samples

__all__ = [
    "ConsumerNotImplementedError",
    "RecordingPublisher",
    "consume_example",
    "examples_of",
    "fresh_vhost",
    "invalid_data",
    "routed_events",
    "vhost_url",
]


class ConsumerNotImplementedError(Exception):
    """The consumer's handler is still the stub (raises NotImplementedError) or missing."""


class RecordingPublisher(Publisher):
    """A publisher that keeps what it would publish instead of sending it."""

    def __init__(self) -> None:
        super().__init__("amqp://unused/")
        self.sent: list[Envelope] = []

    async def publish(
        self, envelope: Envelope, exchange: str, routing_key: str, *, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Record the envelope."""
        self.sent.append(envelope)


def examples_of(catalog: EventCatalog, event_type: str, declared: Sequence[Any], count: int) -> list[Any]:
    """The event's declared examples; when it declares none, count valid samples built from its schema."""
    if declared:
        return list(declared)
    return samples(catalog.spec(event_type).schema, count, event_type, catalog.schemas)


def invalid_data(catalog: EventCatalog, event_type: str, example: Any) -> Any:
    """The example without its first required field (or a non-object when nothing is required)."""
    required = catalog.spec(event_type).schema.get("required", [])
    if isinstance(example, dict) and required:
        return {k: v for k, v in example.items() if k != required[0]}
    return "not an event"


async def consume_example(app: FastAPI, queue: str, event_type: str, example: Any) -> list[Envelope]:
    """Run the app's consumer of event_type on queue with an example, as the generated wiring runs it (in a
    transaction when the service has a database); the events it published directly.
    ConsumerNotImplementedError when the handler is still a stub."""
    bus: ServiceBus = app.state.bus
    consumed = next(
        c for config in bus.events.consumers if config.queue == queue for c in config.events if c.event == event_type
    )
    catalog = bus.events.catalog
    envelope = catalog.envelope(event_type, example)
    handler = bus.handler(consumed)
    publisher = RecordingPublisher()
    resources = bus.resources
    try:
        if resources.config.owns_database:
            async with resources.session() as session, session.begin():
                await handler(envelope, EventContext(envelope, queue, 1, session, catalog, publisher))
        else:
            await handler(envelope, EventContext(envelope, queue, 1, None, catalog, publisher))
    except NotImplementedError as exc:
        raise ConsumerNotImplementedError(str(exc) or f"impl/{consumed.module}.py raises NotImplementedError") from exc
    return publisher.sent


def vhost_url(url: str, vhost: str) -> str:
    """url (an AMQP URL) pointing at vhost instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))


def _rabbitmqctl(*args: str) -> None:
    command = ["rabbitmqctl", "-q", *args]  # found on PATH, as the broker's own CLI is installed
    subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)  # nosec B607


@contextmanager
def fresh_vhost() -> Iterator[str | None]:
    """A new vhost that guest may use, deleted afterwards; None when rabbitmqctl is not installed."""
    if shutil.which("rabbitmqctl") is None:
        yield None
        return
    name = f"planforge-contract-{uuid.uuid4().hex}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        _rabbitmqctl("delete_vhost", name)


async def routed_events(
    url: str,
    topologies: Sequence[Mapping[str, Any]],
    publications: Sequence[tuple[str, str, str]],
    queues: Sequence[str],
) -> dict[str, set[str]]:
    """Declare what every service declares, publish one message per (event, exchange, routing key), and say
    which events each of queues received."""
    received: dict[str, set[str]] = {queue: set() for queue in queues}
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for topology in topologies:
            await declare_topology(channel, topology)
        for event_type, exchange, routing_key in publications:
            target = await channel.get_exchange(exchange, ensure=False)
            await target.publish(aio_pika.Message(event_type.encode()), routing_key=routing_key)
        for queue_name in queues:
            queue = await channel.get_queue(queue_name, ensure=False)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                received[queue_name].add(message.body.decode())
    return received
