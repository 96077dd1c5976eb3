"""Security scan: bandit finds nothing in planforge's source or in any generated service.

The skip list, with why, is [tool.bandit] in pyproject.toml; single accepted findings carry `# nosec <id>`
with the reason on the line above. Anything else bandit reports, at any severity, fails this test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

BANDIT = Path(sys.executable).with_name("bandit")
SERVICES = sorted(str(p.relative_to(REPO)) for p in REPO.glob("generated/*/services"))


@pytest.mark.skipif(not BANDIT.exists(), reason="bandit is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("target", ["src", "runtime/src", "testkit/src", *SERVICES])
def test_bandit_finds_nothing(target: str) -> None:
    command = [str(BANDIT), "-c", "pyproject.toml", "-r", target, "-f", "json", "-q"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    findings = [f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}" for r in report["results"]]
    assert not findings, "bandit findings:\n" + "\n".join(findings)
    assert not report["errors"], report["errors"]
    assert result.returncode == 0, result.stderr
