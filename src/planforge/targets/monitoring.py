"""The monitoring target: Prometheus scrape configuration, recording and alerting rules, and their promtool tests.

``monitoring/prometheus.yml`` reads its scrape targets from ``monitoring/targets/*.json`` (file_sd), so the same
configuration serves ``planforge up --monitoring`` (which writes its own targets files) and a deployment (which
mounts its own). The rules and the test cases are derived in :mod:`planforge.alerting` and
:mod:`planforge.ruletests`; the templates only lay them out, every manifest value quoted.
"""

from __future__ import annotations

from planforge.alerting import rules
from planforge.model import Model
from planforge.ruletests import STEP_MS, rule_tests
from planforge.scrape import targets_files
from planforge.targets import Output
from planforge.templating import render_template

__all__ = ["SCRAPE_INTERVAL", "render"]

SCRAPE_INTERVAL = "10s"


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
