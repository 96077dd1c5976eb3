"""Declare a topology on the broker, idempotently, from the plain data planforge.topology builds from the manifest.

Services call it at start-up so a stack runs without importing definitions.json first. Declaring what exists
with the same arguments is a no-op; an exchange or queue that exists with other arguments raises TopologyError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractExchange
from aiormq.exceptions import ChannelPreconditionFailed

from planforge_runtime.topology import BindingSpec, ExchangeSpec, QueueSpec, Topology, retry_queue

__all__ = ["TopologyError", "declare_topology", "retries_of"]


class TopologyError(RuntimeError):
    """The broker holds an exchange or queue of the same name with other settings."""


async def declare_topology(channel: AbstractChannel, topology: Topology | Mapping[str, Any]) -> None:
    """Declare every exchange, queue and binding of topology on the channel's vhost."""
    exchanges = {spec["name"]: await _exchange(channel, spec) for spec in topology["exchanges"]}
    for queue in topology["queues"]:
        await _queue(channel, queue)
    for binding in topology["bindings"]:
        await _bind(channel, binding, exchanges)


def retries_of(topology: Topology | Mapping[str, Any], queue: str) -> int:
    """How many retries the topology's retry chain gives a queue (the number of its retry queues)."""
    names = {spec["name"] for spec in topology["queues"]}
    count = 0
    while retry_queue(queue, count + 1) in names:
        count += 1
    return count


async def _exchange(channel: AbstractChannel, spec: ExchangeSpec) -> AbstractExchange:
    try:
        return await channel.declare_exchange(
            spec["name"],
            type=spec["type"],
            durable=spec["durable"],
            internal=spec["internal"],
            arguments=dict(spec["arguments"]) or None,
        )
    except ChannelPreconditionFailed as exc:
        raise TopologyError(f"exchange {spec['name']!r} exists with other settings: {exc}") from exc


async def _queue(channel: AbstractChannel, spec: QueueSpec) -> None:
    try:
        await channel.declare_queue(spec["name"], durable=spec["durable"], arguments=dict(spec["arguments"]) or None)
    except ChannelPreconditionFailed as exc:
        raise TopologyError(f"queue {spec['name']!r} exists with other arguments: {exc}") from exc


async def _bind(channel: AbstractChannel, spec: BindingSpec, exchanges: Mapping[str, AbstractExchange]) -> None:
    source = exchanges.get(spec["source"]) or spec["source"]
    if spec["destination_type"] == "exchange":
        destination = exchanges.get(spec["destination"]) or await channel.get_exchange(spec["destination"])
        await destination.bind(source, routing_key=spec["routing_key"])
        return
    queue = await channel.get_queue(spec["destination"], ensure=False)
    await queue.bind(source, routing_key=spec["routing_key"])
