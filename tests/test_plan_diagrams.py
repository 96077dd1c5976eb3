"""Every mermaid block of the plan is parsed by the real mermaid and rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from planforge.loader import load_manifest
from planforge.pipeline import render, validate

from .conftest import EXAMPLES, REPO

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO / "tests" / "js" / "render_mermaid.mjs"
BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.S | re.M)
HOSTILE = 'Pay #1; <b>now</b> %% end -> "x" `y` | \\z & ; end'

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("node") is None or not (REPO / "node_modules" / "mermaid").is_dir(),
    reason="needs Debian chromium, node and the npm packages (scripts/install-system-deps)",
)


def rendered(diagrams: list[str], tmp_path: Path) -> list[dict[str, Any]]:
    """Each diagram's result from mermaid in Chromium (a fresh profile folder, removed with tmp_path)."""
    source = tmp_path / "diagrams.json"
    source.write_text(json.dumps(diagrams))
    done = subprocess.run(
        ["node", str(SCRIPT), str(source), str(tmp_path / "profile")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def _blocks(plan: str) -> list[str]:
    return BLOCK.findall(plan)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_diagram_of_the_plan_renders(example: str, tmp_path: Path) -> None:
    """The architecture graph and one sequence diagram per flow with steps, all rendered without error."""
    plan = (REPO / "generated" / example / "INTEGRATION_PLAN.md").read_text()
    blocks = _blocks(plan)
    assert sum(b.startswith("sequenceDiagram") for b in blocks) == plan.count("**Sequence: ")
    assert plan.count("**Sequence: ") >= 2
    results = rendered(blocks, tmp_path)
    failed = [(b.splitlines()[0], r["error"]) for b, r in zip(blocks, results, strict=True) if not r["ok"]]
    assert not failed
    assert {r["kind"] for r in results} == {"flowchart-v2", "sequence"}


def test_a_broken_diagram_fails(tmp_path: Path) -> None:
    """The check is real: a diagram mermaid cannot parse is reported as failed."""
    results = rendered(["sequenceDiagram\n    A->>: missing target\n", "graph TD\n    A --> B\n"], tmp_path)
    assert [r["ok"] for r in results] == [False, True]


def test_hostile_step_text_renders_as_written(tmp_path: Path) -> None:
    """Mermaid syntax in a step's text is escaped: the diagram renders and shows the text itself."""
    data = load_manifest(REPO / "examples" / "user-accounts" / "feature.yaml").data
    data["flows"][0]["steps"][-1]["does"] = HOSTILE  # a step of a flow with a sequence diagram
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    validation = validate(manifest)
    assert validation.ok, [d.message for d in validation.diagnostics]
    document = validation.document
    assert document is not None
    plan = render(document, "feature.yaml", ("plan",)).output.owned["INTEGRATION_PLAN.md"]
    blocks = [b for b in _blocks(plan) if b.startswith("sequenceDiagram") and "#59;" in b]
    assert blocks
    (result,) = rendered(blocks[:1], tmp_path)
    assert result["ok"], result
    assert any(HOSTILE in text for text in result["texts"]), result["texts"]
