"""Manifests the property suite shrank from its finds, kept as case folders (tests/cases/gen-*): each validates
clean, and its generated code lints, type-checks, imports and honours its contracts, as the property demands."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ..conftest import CASES
from .test_manifests import assert_lints_and_type_checks, assert_services_import_and_honour_their_contracts, generate

FOUND = sorted(p.name for p in CASES.glob("gen-*") if (p / "feature.yaml").is_file())


@pytest.mark.services
@pytest.mark.parametrize("case", FOUND)
def test_a_shrunk_find_generates_a_working_feature(case: str) -> None:
    with tempfile.TemporaryDirectory(prefix="planforge-found-") as folder:
        _model, root = generate(CASES / case / "feature.yaml", Path(folder) / "out")
        assert_lints_and_type_checks(root)
        assert_services_import_and_honour_their_contracts(root, Path(folder))
