"""The monitoring files and plan diagrams of generated (synthetic) manifests, checked by promtool and mermaid."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from planforge.pipeline import render, validate

from .conftest import REPO
from .test_monitoring import PROMTOOL, _promtool
from .test_plan_diagrams import BLOCK, CHROMIUM, rendered

sys.path.insert(0, str(REPO / "benchmarks"))
from synth import synthetic_manifest

ALERTS = [
    {"unavailable_for": "45s", "error_rate_above": "12.5%", "queue_depth_above": 7, "p95_latency_above": "250ms"},
    {"unavailable_for": "500ms", "error_rate_above": "100%", "p95_latency_above": "3s"},
    {"error_rate_above": "0%", "queue_depth_above": 1},
]


def _manifest(routes: int, alerts: dict[str, Any], flow_name: str) -> str:
    """A synthetic manifest with one flow per service (a call through the gateway, an event, its consumer)."""
    data = yaml.safe_load(synthetic_manifest(routes))
    count = len(data["services"])
    flows = []
    for i in range(count):
        steps = [
            {"by": "client", "does": "Asks for an item", "call": f"GET /api/svc{i}/items0/{i}"},
            {"by": f"svc{i}-service", "does": "Announces the change", "publishes": f"svc{i}.changed"},
            {"by": f"svc{(i + 1) % count}-service", "does": "Syncs", "on": f"svc{i}.changed"},
        ]
        flows.append({"name": flow_name if i == 0 else f"Flow {i}", "steps": steps})
    data["flows"] = flows
    data["observability"] = {"metrics": ["request_rate", "cache_hit_ratio"], "alerts": alerts}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _render(tmp_path: Path, text: str) -> dict[str, str]:
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(text)
    validation = validate(manifest)
    assert validation.ok, [d.message for d in validation.diagnostics]
    assert validation.document is not None
    return render(validation.document, "feature.yaml", ("plan", "monitoring")).output.owned


@pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (Debian package prometheus)")
@pytest.mark.parametrize("alerts", ALERTS, ids=["odd", "extremes", "partial"])
def test_generated_manifests_pass_promtool(alerts: dict[str, Any], tmp_path: Path) -> None:
    """The promtool check config, check rules and test rules pass for synthetic manifests with unusual thresholds."""
    files = _render(tmp_path, _manifest(30, alerts, 'Odd }} "flow" $x #1; <x>'))
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    folder = tmp_path / "monitoring"
    _promtool("check", "config", "prometheus.yml", cwd=folder)
    _promtool("check", "rules", "rules.yaml", cwd=folder)
    _promtool("test", "rules", "rules.test.yaml", cwd=folder)
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())["tests"]
    assert len(tests) >= len(alerts)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium")
def test_generated_manifest_diagrams_render(tmp_path: Path) -> None:
    """Every mermaid block of a synthetic manifest's plan renders in Chromium."""
    plan = _render(tmp_path, _manifest(30, ALERTS[0], 'Odd }} "flow" #1; <x> %% end'))["INTEGRATION_PLAN.md"]
    blocks = BLOCK.findall(plan)
    assert len(blocks) == 1 + 3
    results = rendered(blocks, tmp_path)
    assert all(r["ok"] for r in results), [r["error"] for r in results]
