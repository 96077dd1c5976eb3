"""What Prometheus scrapes: the file_sd targets files of a feature, shared by the monitoring and deploy targets
and by `planforge up --monitoring` (each with its own addresses, the same prometheus.yml)."""

from __future__ import annotations

import json

from planforge.model import Model

__all__ = ["EXPORTER_PORT", "targets_files"]

EXPORTER_PORT = 9113  # prometheus-nginx-exporter's default listen port


def targets_files(
    model: Model,
    services: dict[str, str],
    gateway: str | None = None,
    rabbitmq: str | None = None,
    *,
    with_gateway: bool = True,
) -> dict[str, str]:
    """The file_sd targets files: each service's address, the nginx exporter's and RabbitMQ's, if any."""
    service_groups = [{"targets": [services[s.name]], "labels": {"service": s.name}} for s in model.services]
    gateway_address = gateway or f"127.0.0.1:{EXPORTER_PORT}"
    exporter = model.gateway is not None and with_gateway
    gateway_groups = [{"targets": [gateway_address], "labels": {"service": "gateway"}}] if exporter else []
    broker_groups = [{"targets": [rabbitmq], "labels": {}}] if rabbitmq else []
    return {
        "services.json": _json(service_groups),
        "gateway.json": _json(gateway_groups),
        "rabbitmq.json": _json(broker_groups),
    }


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
