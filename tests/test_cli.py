"""The command line as a user sees it, snapshot-tested: the seed as written, in each output format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from .conftest import REPO, RunCli

SEED_CASE = "tests/cases/seed-as-written/feature.yaml"


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_seed_as_written(fmt: str, run_cli: RunCli, snapshot: SnapshotAssertion) -> None:
    """The seed's own inconsistencies are reported, located, in every format; exit 1."""
    result = run_cli("validate", SEED_CASE, "--format", fmt)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == snapshot


def test_every_format_prints_the_same_list(run_cli: RunCli) -> None:
    """text, json and github give the same diagnostics in the same order; only text ends with a count line."""
    found = json.loads(run_cli("validate", SEED_CASE, "--format", "json").stderr)
    text = run_cli("validate", SEED_CASE, "--format", "text").stderr.splitlines()
    github = run_cli("validate", SEED_CASE, "--format", "github").stderr.splitlines()
    assert found
    assert len(text) == len(found) + 1
    assert len(github) == len(found)
    for item, line, annotation in zip(found, text, github, strict=False):
        assert line.startswith(f"{item['path']}:{item['line']}:{item['col']}: {item['severity']} {item['code']}: ")
        assert annotation.startswith(f"::{item['severity']} file={item['path']},line={item['line']},")
    errors = sum(1 for item in found if item["severity"] == "error")
    warnings = len(found) - errors
    plural = {1: ""}
    assert text[-1] == f"{errors} error{plural.get(errors, 's')}, {warnings} warning{plural.get(warnings, 's')}"


def test_count_line_is_singular_for_one(tmp_path: Path, run_cli: RunCli) -> None:
    """One error and one warning read '1 error, 1 warning'."""
    source = (REPO / "tests" / "cases" / "pf204-unknown-queue" / "feature.yaml").read_text()
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(source)
    result = run_cli("validate", str(manifest))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "1 error, 1 warning"


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
