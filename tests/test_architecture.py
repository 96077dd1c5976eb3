"""The pipeline's shape holds: targets are projections of the model (an import-linter contract, run here so that CI
fails when it breaks), and every target of the registry is under the contract."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from planforge.targets.registry import TARGETS

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO / "src",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_target_is_under_the_independence_contract() -> None:
    (independent,) = [c for c in _contracts() if c["type"] == "independence"]
    assert sorted(independent["modules"]) == sorted(f"planforge.targets.{name}" for name in TARGETS)  # type: ignore[arg-type]
