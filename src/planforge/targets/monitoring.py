"""The monitoring target: Prometheus scrape configuration, recording and alerting rules, and their promtool tests.

``monitoring/prometheus.yml`` reads its scrape targets from ``monitoring/targets/*.json`` (file_sd), so the same
configuration serves ``planforge up --monitoring`` (which writes its own targets files) and a deployment (which
mounts its own). The rules and the test cases are derived in :mod:`planforge.alerting` and
:mod:`planforge.ruletests`; the templates only lay them out, every manifest value quoted.
"""

from __future__ import annotations

import json

from planforge.alerting import rules
from planforge.model import Model
from planforge.ruletests import STEP_MS, rule_tests
from planforge.targets import Output
from planforge.templating import render_template

__all__ = ["EXPORTER_PORT", "SCRAPE_INTERVAL", "render", "targets_files"]

SCRAPE_INTERVAL = "10s"
EXPORTER_PORT = 9113  # prometheus-nginx-exporter's default listen port


def render(model: Model) -> Output:
    """monitoring/prometheus.yml, rules.yaml, rules.test.yaml and the local targets files."""
    derived = rules(model)
    files = {
        "monitoring/prometheus.yml": render_template(
            "monitoring/prometheus.yml.j2", model=model, rules=derived, interval=SCRAPE_INTERVAL
        ),
        "monitoring/rules.yaml": render_template("monitoring/rules.yaml.j2", model=model, rules=derived),
        "monitoring/rules.test.yaml": render_template(
            "monitoring/rules.test.yaml.j2", tests=rule_tests(derived), interval=f"{STEP_MS // 1000}s"
        ),
    }
    local = targets_files(model, {s.name: f"127.0.0.1:{s.port}" for s in model.services})
    files |= {f"monitoring/targets/{name}": text for name, text in local.items()}
    return Output(owned=files)


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
