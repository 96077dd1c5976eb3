"""planforge, planforge-runtime and planforge-testkit are released together: one version, pinned by what
planforge generates, and the runtime stands alone (no import of the generator)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import planforge_runtime
import planforge_testkit
import pytest

import planforge

from .conftest import REPO

PROJECTS = {"planforge": REPO, "planforge-runtime": REPO / "runtime", "planforge-testkit": REPO / "testkit"}


def _project(folder: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def test_the_three_distributions_share_one_version() -> None:
    versions = {name: _project(folder)["version"] for name, folder in PROJECTS.items()}
    modules = {planforge.__version__, planforge_runtime.__version__, planforge_testkit.__version__}
    assert set(versions.values()) == modules == {planforge.__version__}, versions


def test_each_depends_on_the_others_at_exactly_that_version() -> None:
    version = planforge.__version__
    planforge_deps = _project(REPO)["dependencies"]
    testkit_deps = _project(REPO / "testkit")["dependencies"]
    assert f"planforge-runtime=={version}" in planforge_deps  # type: ignore[operator]
    assert {f"planforge=={version}", f"planforge-runtime=={version}"} <= set(testkit_deps)  # type: ignore[arg-type]
    runtime_deps = " ".join(_project(REPO / "runtime")["dependencies"])  # type: ignore[arg-type]
    assert "planforge" not in runtime_deps


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "generated").iterdir()))
def test_generated_requirements_pin_the_generating_version(example: str) -> None:
    root = REPO / "generated" / example
    pins = [p.read_text(encoding="utf-8").splitlines()[-1] for p in sorted(root.glob("services/*/requirements.txt"))]
    assert pins and set(pins) == {f"planforge-runtime=={planforge.__version__}"}
    tests = (root / "tests" / "requirements.txt").read_text(encoding="utf-8").splitlines()[-1]
    assert tests == f"planforge-testkit=={planforge.__version__}"
    dockerfile = (root / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG PLANFORGE_RUNTIME=planforge-runtime=={planforge.__version__}" in dockerfile


def test_generated_services_import_the_runtime_never_the_generator() -> None:
    """Production code (not tests) of every generated service imports planforge_runtime, never planforge."""
    for path in sorted(REPO.glob("generated/*/services/**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "planforge" or n.startswith("planforge.") for n in names), (path, names)
