"""The monitoring target: the generated Prometheus configuration, rules and rule tests, run by the real promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from planforge.pipeline import render, validate

from .conftest import EXAMPLES, REPO

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (Debian package prometheus)")
HOSTILE = 'Sync }} { .Value } "quoted" \\ back $labels {$value} ü 🙂 #1; <b>'


def _promtool(*args: str, cwd: Path) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _write_monitoring(manifest: Path, out: Path) -> Path:
    validation = validate(manifest)
    assert validation.ok, [d.message for d in validation.diagnostics]
    assert validation.document is not None
    document = validation.document
    files = render(document, "feature.yaml", ("monitoring",)).output.owned
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    return out / "monitoring"


@needs_promtool
@pytest.mark.parametrize("example", EXAMPLES)
def test_promtool_checks_config_rules_and_rule_tests(example: str) -> None:
    """The committed output passes promtool check config, check rules and test rules."""
    folder = REPO / "generated" / example / "monitoring"
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml", cwd=folder)
    assert "SUCCESS" in _promtool("check", "rules", "rules.yaml", cwd=folder)
    assert "SUCCESS" in _promtool("test", "rules", "rules.test.yaml", cwd=folder)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_alert_has_cases_below_and_above(example: str) -> None:
    """Each alerting rule has a case that must not fire and one that must fire only after its `for`."""
    folder = REPO / "generated" / example / "monitoring"
    alerts = [
        r for g in yaml.safe_load((folder / "rules.yaml").read_text())["groups"] for r in g["rules"] if "alert" in r
    ]
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())["tests"]
    assert alerts
    for alert in alerts:
        entity = next(v for k, v in alert["labels"].items() if k != "severity")
        named = [t for t in tests if t["name"].startswith(f"{alert['alert']} {entity} ")]
        assert {t["name"].rsplit(" ", 2)[1] for t in named} == {"below", "above"}, alert
        above = next(t for t in named if " above " in t["name"])
        before, after = above["alert_rule_test"]
        assert before["exp_alerts"] == [] and after["exp_alerts"], above
        assert any(a["exp_labels"] == {**a["exp_labels"], **alert["labels"]} for a in after["exp_alerts"])


@needs_promtool
def test_hostile_text_is_quoted_in_rules_and_printed_as_written(tmp_path: Path) -> None:
    """A flow name full of PromQL, YAML and Go-template syntax is data: the rules load and the alert's summary,
    as Prometheus expands it, is the text exactly (checked by promtool's exp_annotations)."""
    source = (REPO / "examples" / "user-accounts" / "feature.yaml").read_text()
    assert "- name: Data Synchronization" in source
    manifest = tmp_path / "feature.yaml"
    quoted = yaml.safe_dump(HOSTILE, default_style='"', allow_unicode=True, width=1000).strip()
    manifest.write_text(source.replace("Data Synchronization", quoted))
    folder = _write_monitoring(manifest, tmp_path / "out")
    _promtool("check", "rules", "rules.yaml", cwd=folder)
    _promtool("test", "rules", "rules.test.yaml", cwd=folder)
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())["tests"]
    summaries = [a["exp_annotations"]["summary"] for t in tests for c in t["alert_rule_test"] for a in c["exp_alerts"]]
    assert f"Error rate above 5% on integration point {HOSTILE}" in summaries


def test_alerts_follow_the_manifest_thresholds(tmp_path: Path) -> None:
    """Thresholds and durations come from observability.alerts; a missing alert key makes no rule."""
    source = (REPO / "examples" / "user-accounts" / "feature.yaml").read_text()
    manifest = tmp_path / "feature.yaml"
    changed = source.replace("unavailable_for: 1m", "unavailable_for: 90s").replace("error_rate_above: 5%", "")
    manifest.write_text(changed.replace("p95_latency_above: 500ms", "p95_latency_above: 250ms"))
    folder = _write_monitoring(manifest, tmp_path / "out")
    rules = [r for g in yaml.safe_load((folder / "rules.yaml").read_text())["groups"] for r in g["rules"]]
    down = [r for r in rules if r.get("alert") == "ServiceUnavailable"]
    assert down and all(r["for"] == "90s" for r in down)
    assert not [r for r in rules if r.get("alert") == "IntegrationErrorRate"]
    assert all(r["expr"].endswith("> 0.25") for r in rules if r.get("alert") == "SlowResponses")


def _defined_metric_names() -> set[str]:
    """The sample names the runtime's Metrics can export (counters as *_total, histograms as *_bucket ...)."""
    from planforge_runtime.metrics import Metrics

    names: set[str] = set()
    for family in Metrics(caches=("any",)).registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        else:
            names.add(family.name)
    return names


def rule_metric_names(rules_yaml: str) -> set[str]:
    """Metric names the rules' expressions read (selectors all carry matchers), without recorded series."""
    rules = [r for g in yaml.safe_load(rules_yaml)["groups"] for r in g["rules"]]
    recorded = {r["record"] for r in rules if "record" in r}
    names = {n for r in rules for n in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", r["expr"])}
    return names - recorded


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_metric_a_rule_reads_is_defined_by_the_runtime(example: str) -> None:
    """Rules read the runtime's metrics, Prometheus's `up`, RabbitMQ's and the nginx exporter's, nothing else."""
    used = rule_metric_names((REPO / "generated" / example / "monitoring" / "rules.yaml").read_text())
    external = {n for n in used if n == "up" or n.startswith(("rabbitmq_", "nginx_"))}
    assert used - external and external <= {"up", "rabbitmq_queue_messages_ready", "nginx_up"}
    assert used - external <= _defined_metric_names(), used - external - _defined_metric_names()


@needs_promtool
@pytest.mark.parametrize("example", EXAMPLES)
def test_the_compose_deployment_runs_the_same_config_with_its_own_targets(example: str, tmp_path: Path) -> None:
    """Compose mounts monitoring/ unchanged with deploy/monitoring/targets/ (compose hosts, RabbitMQ's plugin
    endpoint) over the local targets, and enables rabbitmq_prometheus."""
    generated = REPO / "generated" / example
    compose = yaml.safe_load((generated / "deploy" / "docker-compose.yaml").read_text())["services"]
    volumes = compose["prometheus"]["volumes"]
    assert "../monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./monitoring/targets:/etc/prometheus/targets:ro" in volumes
    broker = next(c for c in compose.values() if "rabbitmq" in str(c.get("image", "")))
    assert "./rabbitmq/enabled_plugins.erl:/etc/rabbitmq/enabled_plugins:ro" in broker["volumes"]
    plugins = generated / "deploy" / "rabbitmq" / "enabled_plugins.erl"
    if shutil.which("erl"):  # RabbitMQ reads the file with file:consult; the header is an Erlang comment
        script = f'io:format("~p", [file:consult("{plugins}")]), halt().'
        read = subprocess.run(["erl", "-noshell", "-eval", script], capture_output=True, text=True, timeout=60)
        assert read.stdout == "{ok,[[rabbitmq_management,rabbitmq_prometheus]]}", read.stdout + read.stderr
    assert "rabbitmq_prometheus" in plugins.read_text()
    folder = tmp_path / "monitoring"
    shutil.copytree(generated / "monitoring", folder)
    shutil.rmtree(folder / "targets")
    shutil.copytree(generated / "deploy" / "monitoring" / "targets", folder / "targets")
    services = json.loads((folder / "targets" / "services.json").read_text())
    assert all(
        g["targets"] == [f"{g['labels']['service']}:{p}"] for g, p in zip(services, _ports(example), strict=True)
    )
    assert json.loads((folder / "targets" / "rabbitmq.json").read_text())[0]["targets"][0].endswith(":15692")
    _promtool("check", "config", "prometheus.yml", cwd=folder)


def _ports(example: str) -> list[int]:
    document = validate(REPO / "examples" / example / "feature.yaml").document
    assert document is not None
    return [s.port for s in render(document, "feature.yaml", ("plan",)).model.services]
