"""Service packages never shadow what generated services import; the committed module list is complete."""

from __future__ import annotations

import pytest

from planforge.rules.identifiers import package_problem
from planforge.rules.imported import SNAPSHOT, installed_modules


def test_committed_modules_hold_the_installed_closure() -> None:
    """rules/imported_modules.txt holds every top-level module of the runtime and test kit closure (make regen)."""
    committed = set(SNAPSHOT.read_text(encoding="utf-8").split())
    missing = sorted(installed_modules() - committed)
    assert not missing, f"run `make regen`: modules missing from {SNAPSHOT.name}: {missing}"


@pytest.mark.parametrize(
    "package", ["jwt", "tenacity", "cryptography", "prometheus_client", "referencing", "sqlalchemy", "aio_pika"]
)
def test_dependencies_cannot_be_service_packages(package: str) -> None:
    assert package_problem(package) is not None


@pytest.mark.parametrize("package", ["user_service", "billing", "orders"])
def test_ordinary_names_are_fine(package: str) -> None:
    assert package_problem(package) is None
