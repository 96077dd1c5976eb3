"""The command line as a user sees it, snapshot-tested: the seed as written, in each output format."""

from __future__ import annotations

import json

import pytest
from syrupy.assertion import SnapshotAssertion

from .conftest import RunCli

SEED_CASE = "tests/cases/seed-as-written/feature.yaml"


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_seed_as_written(fmt: str, run_cli: RunCli, snapshot: SnapshotAssertion) -> None:
    """The seed's own inconsistencies are reported, located, in every format; exit 1."""
    result = run_cli("validate", SEED_CASE, "--format", fmt)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == snapshot
    if fmt == "json":
        codes = {d["code"] for d in json.loads(result.stderr)}
        assert {"PF301", "PF401", "PF801"} <= codes


def test_schema_prints_the_published_schema(run_cli: RunCli) -> None:
    """`planforge schema` prints spec/planforge.schema.json, a draft 2020-12 schema."""
    result = run_cli("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_help_lists_the_commands(run_cli: RunCli) -> None:
    """--help names every command."""
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("validate", "generate", "check", "schema"):
        assert command in result.stdout
