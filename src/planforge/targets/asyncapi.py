"""The asyncapi target: ``asyncapi.yaml``, an AsyncAPI 3.0.0 document of the feature's events on RabbitMQ.

A channel per event (its routing key on its exchange) for publishers to send to, and a channel per queue for
consumers to receive from, both with AMQP 0.3.0 bindings; a message per event whose payload is the event
envelope with the event's data schema; named schemas the events refer to under ``components/schemas``.
"""

from __future__ import annotations

import uuid
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA as PROBLEM

from planforge.escape import yaml_document
from planforge.model import Event, Model, Queue
from planforge.schemawalk import point_refs, referenced
from planforge.targets import Output
from planforge.topology import VHOST, dead_letter_queue, retry_delays_ms

__all__ = ["PATH", "document", "render"]

PATH = "asyncapi.yaml"
_AMQP = "0.3.0"
_MESSAGES = "#/components/messages/"
_SCHEMAS = "#/components/schemas/"


def render(model: Model) -> Output:
    """asyncapi.yaml for the feature."""
    text = yaml_document(document(model), width=120)
    return Output(owned={PATH: text})


def document(model: Model) -> dict[str, Any]:
    """The AsyncAPI document as plain data, in a fixed order."""
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": model.name, "version": "1.0.0", "description": model.overview},
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": f"The local RabbitMQ, vhost {VHOST}.",
            }
        },
        "channels": {**_event_channels(model), **_queue_channels(model)},
        "operations": {**_send_operations(model), **_receive_operations(model)},
        "components": {"messages": {e.name: _message(e, model.slug) for e in model.events}},
    }
    schemas = _schemas(model)
    if schemas:
        doc["components"]["schemas"] = schemas
    return doc


def _event_channels(model: Model) -> dict[str, Any]:
    """A channel per event: its routing key on its exchange."""
    exchanges = {x.name: x for x in model.exchanges}
    channels = {}
    for event in model.events:
        exchange = exchanges[event.exchange]
        binding = {"name": exchange.name, "type": exchange.type, "durable": exchange.durable, "autoDelete": False}
        channels[event.name] = {
            "address": event.routing_key,
            "title": f"{event.name} on {event.exchange}",
            "messages": {event.name: {"$ref": _MESSAGES + event.name}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": binding | {"vhost": VHOST}, "bindingVersion": _AMQP}},
        }
    return channels


def _queue_channels(model: Model) -> dict[str, Any]:
    """A channel per queue, with every event that reaches it or is consumed from it."""
    channels = {}
    for queue in model.queues:
        queue_binding = {"name": queue.name, "durable": queue.durable, "exclusive": False, "autoDelete": False}
        channels[queue.name] = {
            "address": queue.name,
            "title": f"queue {queue.name}",
            "messages": {name: {"$ref": _MESSAGES + name} for name in _queue_events(model, queue)},
            "bindings": {"amqp": {"is": "queue", "queue": queue_binding | {"vhost": VHOST}, "bindingVersion": _AMQP}},
        }
    return channels


def _queue_events(model: Model, queue: Queue) -> list[str]:
    delivered = {d.event for e in model.events for d in e.deliveries if d.queue == queue.name}
    consumed = {c.event for s in model.services for c in s.consumes if c.queue == queue.name}
    return sorted(delivered | consumed)


def _send_operations(model: Model) -> dict[str, Any]:
    """An operation per publisher and event: a persistent message to the event's channel."""
    operations = {}
    for service in model.services:
        for name in sorted(service.publishes):
            operations[f"{service.name}.send.{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{name}"},
                "title": f"{service.title} publishes {name}",
                **({"summary": model.event(name).summary} if model.event(name).summary else {}),
                "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
                "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": _AMQP}},
            }
    return operations


def _receive_operations(model: Model) -> dict[str, Any]:
    """An operation per consumer and queue: the events it handles there, acknowledged after handling."""
    operations = {}
    for service in model.services:
        for queue in sorted({c.queue for c in service.consumes}):
            handled = sorted((c for c in service.consumes if c.queue == queue), key=lambda c: c.event)
            lines = [f"- {c.event}: {c.does}" if c.does else f"- {c.event}" for c in handled]
            operations[f"{service.name}.receive.{queue}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{queue}"},
                "title": f"{service.title} consumes {queue}",
                "description": "\n".join([*lines, "", _failure_text(model, queue)]),
                "messages": [{"$ref": f"#/channels/{queue}/messages/{c.event}"} for c in handled],
                "bindings": {"amqp": {"ack": True, "bindingVersion": _AMQP}},
            }
    return operations


def _failure_text(model: Model, queue: str) -> str:
    """What happens to a message the handler rejects, from the retry settings."""
    delays = ", ".join(f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms" for ms in retry_delays_ms(model.retry))
    retried = f"retried after {delays}, then " if delays else ""
    if model.retry.dead_letter:
        return f"A message whose handler fails is {retried}dead-lettered to {dead_letter_queue(queue)}."
    return f"A message whose handler fails is {retried}dropped."


def _message(event: Event, slug: str) -> dict[str, Any]:
    """The message of an event: the envelope around the event's data."""
    message: dict[str, Any] = {
        "name": event.name,
        "title": event.name,
        **({"summary": event.summary} if event.summary else {}),
        "contentType": "application/json",
        "correlationId": {"location": "$message.payload#/correlationId"},
        "payload": _envelope(event.name, _resolved(event.data.value)),
        "bindings": {"amqp": {"messageType": event.name, "bindingVersion": _AMQP}},
    }
    if event.pii:
        message["x-pii"] = list(event.pii)
    if event.examples:
        message["examples"] = [_example(event, slug, i) for i in range(len(event.examples))]
    return message


def _envelope(event: str, data: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["eventId", "eventType", "timestamp", "correlationId", "data"],
        "properties": {
            "eventId": {"type": "string", "format": "uuid", "description": "Unique per event; consumers dedupe on it."},
            "eventType": {"type": "string", "const": event},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the event happened (UTC)."},
            "correlationId": {"type": "string", "format": "uuid", "description": "The request that caused it."},
            "data": data,
        },
    }


def _example(event: Event, slug: str, index: int) -> dict[str, Any]:
    """An example envelope around the event's example data, with stable made-up ids."""
    seed = f"planforge:{slug}:{event.name}:{index}"
    payload = {
        "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, seed + ":event")),
        "eventType": event.name,
        "timestamp": "2025-01-01T00:00:00Z",
        "correlationId": str(uuid.uuid5(uuid.NAMESPACE_URL, seed + ":correlation")),
        "data": event.examples[index].value,
    }
    return {"name": f"example-{index + 1}", "payload": payload}


def _schemas(model: Model) -> dict[str, Any]:
    """The named schemas the events' data refer to, directly or through each other, with refs resolved."""
    known = {"Problem": PROBLEM, **{name: schema.value for name, schema in model.schemas}}
    names = referenced(known, [e.data.value for e in model.events])
    return {name: _resolved(known[name]) for name in sorted(names)}


def _resolved(schema: Any) -> Any:
    """A copy of a schema with each bare '$ref: Name' pointing into components/schemas."""
    return point_refs(schema, _SCHEMAS)
