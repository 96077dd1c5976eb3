"""The committed generated/ folder is exactly what planforge generates, and generation is deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from planforge.output import check
from planforge.pipeline import manifest_ref, render, validate

from .conftest import EXAMPLES, REPO, RunCli


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_is_valid_without_warnings(example: str) -> None:
    """Both examples validate with no diagnostic at all."""
    result = validate(REPO / "examples" / example / "feature.yaml")
    assert [d.text() for d in result.diagnostics] == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_committed_output_is_current(example: str) -> None:
    """generated/<slug>/ matches a fresh rendering (run `make regen` after changing the manifest or planforge)."""
    manifest = REPO / "examples" / example / "feature.yaml"
    document = validate(manifest).document
    assert document is not None
    out = REPO / "generated"
    rendering = render(document, manifest_ref(manifest, out))
    report = check(rendering.output, out / rendering.slug, manifest_ref(manifest, out))
    assert report.clean, f"stale: missing={report.missing} changed={list(report.changed)} extra={report.extra}"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES)
def test_generation_is_deterministic_across_hash_seeds(example: str, tmp_path: Path, run_cli: RunCli) -> None:
    """Processes with different PYTHONHASHSEED, without, with a cold and with a warm cache, write the same bytes."""
    cache = str(tmp_path / "cache")
    runs = {
        "1": {"PLANFORGE_NO_CACHE": "1"},
        "4242": {"PLANFORGE_CACHE_DIR": cache},
        "7": {"PLANFORGE_CACHE_DIR": cache},
    }
    trees = []
    for seed, extra in runs.items():
        out = tmp_path / f"out-{seed}"
        env = {"PYTHONHASHSEED": seed, **extra}
        result = run_cli("generate", f"examples/{example}/feature.yaml", "-o", str(out), env=env)
        assert result.returncode == 0, result.stderr
        trees.append(_tree(out))
    assert trees[0] == trees[1] == trees[2]
    assert all(b"\r\n" not in data and data.endswith(b"\n") for data in trees[0].values())


def test_manifest_reference_is_current() -> None:
    """docs/manifest.md is what `planforge schema --markdown` prints (regenerate with `make regen`)."""
    from planforge.schemadoc import schema_markdown

    assert (REPO / "docs" / "manifest.md").read_text(encoding="utf-8") == schema_markdown()
