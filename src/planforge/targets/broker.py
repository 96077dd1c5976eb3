"""The broker target: ``broker/definitions.json``, the feature's topology in RabbitMQ's definitions format.

The topology itself (the manifest's exchanges, queues and bindings, and each queue's retry chain, dead letter
exchange and dead letter queue) is derived in :mod:`planforge.topology`, which services also declare from at
start-up; the design of the retry chain is described there. This module only lays it out for
``rabbitmqctl import_definitions``: every resource in the default vhost ``/``, no users, permissions or
policies (all behaviour is in declare arguments), and no version or timestamp, so the file is stable.
"""

from __future__ import annotations

from typing import Any

from planforge.escape import json_document
from planforge.model import Model
from planforge.targets import Output
from planforge.topology import VHOST, BindingSpec, ExchangeSpec, QueueSpec, topology

__all__ = ["PATH", "definitions", "render"]

PATH = "broker/definitions.json"


def render(model: Model) -> Output:
    """broker/definitions.json for the feature."""
    text = json_document(definitions(model), sort_keys=True) + "\n"
    return Output(owned={PATH: text})


def definitions(model: Model, vhost: str = VHOST) -> dict[str, list[dict[str, Any]]]:
    """The definitions document: exchanges, queues and bindings of the feature, all in vhost."""
    described = topology(model)
    return {
        "exchanges": [_exchange(e, vhost) for e in described["exchanges"]],
        "queues": [_queue(q, vhost) for q in described["queues"]],
        "bindings": [_binding(b, vhost) for b in described["bindings"]],
    }


def _exchange(spec: ExchangeSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "auto_delete": False}


def _queue(spec: QueueSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "auto_delete": False}


def _binding(spec: BindingSpec, vhost: str) -> dict[str, Any]:
    return {**spec, "vhost": vhost, "arguments": {}}
