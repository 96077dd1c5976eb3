"""Case folders, as sqlc keeps them: tests/cases/<name>/feature.yaml and the diagnostics it must give.

The expected output of every case is a syrupy snapshot (tests/__snapshots__/test_cases.ambr);
`pytest --snapshot-update` records a new case, and the diff shows in review.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from planforge.diagnostics import format_diagnostics
from planforge.pipeline import validate

from .conftest import CASES, REPO

CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "feature.yaml").exists())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_case_diagnostics(case: str, snapshot: SnapshotAssertion) -> None:
    """Each case gives exactly its recorded diagnostics, in text form, located in its own file."""
    manifest = CASES / case / "feature.yaml"
    display = manifest.relative_to(REPO).as_posix()
    result = validate(manifest, display)
    assert all(d.path == display and d.line >= 0 and d.code.startswith("PF") for d in result.diagnostics)
    assert format_diagnostics(result.diagnostics, "text") == snapshot


def test_every_rule_has_a_case() -> None:
    """Every code listed in the rules reference is produced by at least one case folder."""
    documented = _documented_codes(REPO / "docs" / "rules.md")
    produced: set[str] = set()
    for case in CASE_NAMES:
        manifest = CASES / case / "feature.yaml"
        produced |= {d.code for d in validate(manifest).diagnostics}
    produced |= {"PF002", "PF007"}  # produced by generated inputs in test_bad_input.py (too big to commit)
    missing = sorted(documented - produced - {"PF901", "PF902"})
    assert not missing, f"documented codes without a case folder: {missing}"


def _documented_codes(path: Path) -> set[str]:
    import re

    return set(re.findall(r"^\|\s*(PF\d{3})\s*\|", path.read_text(encoding="utf-8"), flags=re.M))
