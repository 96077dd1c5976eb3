"""Case folders, as sqlc keeps them: tests/cases/<name>/feature.yaml and what must come out of it.

The diagnostics of every case are a syrupy snapshot (tests/__snapshots__/test_cases.ambr);
`pytest --snapshot-update` records a new case, and the diff shows in review. A case whose manifest gives
no diagnostic at all also keeps what `planforge generate` writes for it in tests/cases/<name>/expected/,
compared file by file; `make regen` rewrites those folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from planforge.diagnostics import format_diagnostics
from planforge.pipeline import manifest_ref, render, validate

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


@pytest.mark.parametrize("case", CASE_NAMES)
def test_clean_case_output_matches_its_expected_folder(case: str) -> None:
    """A case without diagnostics generates exactly the files of its expected/ folder (run `make regen` after a
    change); a case with diagnostics has no expected/ folder."""
    folder = CASES / case
    manifest = folder / "feature.yaml"
    expected = folder / "expected"
    result = validate(manifest)
    if result.diagnostics or result.document is None:
        assert not expected.exists(), f"{case} gives diagnostics, so it has no expected output: remove {expected}"
        return
    assert expected.is_dir(), f"{case} is a clean case without {expected}: run `make regen`"
    ref = manifest_ref(manifest, expected)
    rendering = render(result.document, ref)
    files = {**rendering.output.user, **rendering.output.owned}
    root = expected / rendering.slug
    written = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".planforge-index.json"
    }
    assert sorted(written) == sorted(files), f"{case}: files differ from {root} (run `make regen`)"
    for path, text in files.items():
        assert written[path] == text, f"{case}: {path} differs from {root / path} (run `make regen`)"


def test_every_rule_has_a_case(tmp_path: Path) -> None:
    """Every code listed in the rules reference is produced by at least one case folder, or by one of the bad
    inputs of test_bad_input.py (too big, or too hostile, to commit)."""
    from .test_bad_input import BAD_INPUTS

    documented = _documented_codes(REPO / "docs" / "rules.md")
    produced: set[str] = set()
    for case in CASE_NAMES:
        manifest = CASES / case / "feature.yaml"
        produced |= {d.code for d in validate(manifest).diagnostics}
    for name, data in BAD_INPUTS.items():
        manifest = tmp_path / f"{name}.yaml"
        manifest.write_bytes(data)
        produced |= {d.code for d in validate(manifest).diagnostics}
    missing = sorted(documented - produced)
    assert not missing, f"documented codes without a case folder: {missing}"


def test_every_produced_code_is_documented() -> None:
    """No case folder produces a code the rules reference does not list."""
    documented = _documented_codes(REPO / "docs" / "rules.md")
    produced = {d.code for case in CASE_NAMES for d in validate(CASES / case / "feature.yaml").diagnostics}
    assert produced <= documented, f"undocumented codes: {sorted(produced - documented)}"


def _documented_codes(path: Path) -> set[str]:
    import re

    return set(re.findall(r"^\|\s*(PF\d{3})\s*\|", path.read_text(encoding="utf-8"), flags=re.M))
