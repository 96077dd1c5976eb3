"""Shared fixtures: the repository's paths and a way to run the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/feature.yaml"))
CASES = REPO / "tests" / "cases"

# The expected output of clean case folders holds generated tests: they are data here, not tests to collect.
collect_ignore_glob = ["cases/*/expected/*"]

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli() -> RunCli:
    """Run `python -m planforge ARGS` in a fresh process, from the repository root by default."""

    def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        merged = {**os.environ, **(env or {})}
        merged.pop("PLANFORGE_DEBUG", None)
        return subprocess.run(
            [sys.executable, "-m", "planforge", *args],
            cwd=cwd,
            env=merged,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
