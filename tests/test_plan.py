"""The integration plan: every section of the seed, every fact from the manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planforge.pipeline import render, validate

from .conftest import EXAMPLES, REPO

SEED = REPO.parent / "shared" / "seed" / "integration-plan-template.md"
# The seed's headings (down to ###), kept in the repository so that a clean clone runs every test.
SEED_HEADINGS = REPO / "tests" / "fixtures" / "seed" / "headings.txt"


def _plan(manifest: Path) -> str:
    document = validate(manifest).document
    assert document is not None
    return render(document, "feature.yaml", ("plan",)).output.owned["INTEGRATION_PLAN.md"]


def _headings(text: str) -> list[str]:
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    return [line.strip() for line in body.splitlines() if re.match(r"^#{1,3} ", line)]


@pytest.mark.skipif(not SEED.exists(), reason="the seed template is not beside this checkout")
def test_the_kept_seed_headings_are_the_seeds() -> None:
    """tests/fixtures/seed/headings.txt is the heading list of ../shared/seed/integration-plan-template.md."""
    assert SEED_HEADINGS.read_text(encoding="utf-8").splitlines() == _headings(SEED.read_text(encoding="utf-8"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_plan_has_every_section_of_the_seed(example: str) -> None:
    """Every heading of the seed (down to ###) is in the plan, in the same order; integration points numbered."""
    plan = _plan(REPO / "examples" / example / "feature.yaml")
    kept = SEED_HEADINGS.read_text(encoding="utf-8").splitlines()
    seed = [h for h in kept if not re.match(r"^### \d+\. ", h)]
    seed = [h.replace("{{feature_name}}", "") for h in seed]
    found = _headings(plan)
    positions = [next((i for i, h in enumerate(found) if h.startswith(s)), -1) for s in seed]
    assert -1 not in positions, [s for s, p in zip(seed, positions, strict=True) if p == -1]
    assert positions == sorted(positions)


def test_user_accounts_plan_facts_come_from_the_manifest() -> None:
    """The name, diagram, matrix, policies and thresholds of user-accounts are those of its manifest."""
    plan = _plan(REPO / "examples" / "user-accounts" / "feature.yaml")
    assert plan.splitlines()[2] == "# Integration Plan: User Accounts"
    assert "{{" not in plan
    for node in ("AUTH_SERVICE", "USER_SERVICE", "NOTIFICATION_SERVICE", "AUTH_DB[(", "USER_DB[("):
        assert node in plan
    assert "| API Gateway | Auth Service | REST | Request-Response |" in plan
    assert re.search(r"\| User Service \| Notification Service \| Event \| Pub-Sub \| [^|]*user\.created", plan)
    assert re.search(r"\| Auth Service \| User Service \| Event \| Pub-Sub \| [^|]*user\.authenticated", plan)
    assert "- Rate limiting: 100 requests/minute per IP" in plan
    assert "- Exponential backoff: 1s, 2s, 4s" in plan
    assert "- Threshold: 50% failure rate" in plan
    assert "- Response time > 500ms (p95)" in plan
    assert "- User profiles: 5 minutes TTL" in plan


def test_free_text_cannot_inject_markup(tmp_path: Path) -> None:
    """Markdown and HTML in free text are shown as written, not interpreted."""
    source = (REPO / "tests" / "fixtures" / "mini" / "feature.yaml").read_text()
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(source.replace("A tiny feature.", "'<img src=x onerror=alert(1)> | [link](http://x) `code`'"))
    plan = _plan(manifest)
    assert ("<img" not in plan and "&lt;" not in plan) or "\\<img" in plan
    assert "\\<img src=x onerror=alert(1)\\> \\| \\[link\\](http://x) \\`code\\`" in plan
