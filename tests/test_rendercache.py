"""The run cache: a no-op check/generate replays the remembered rendering, and any change of input misses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from planforge import rendercache, resources

from .conftest import CASES, REPO, RunCli

MINI = REPO / "tests" / "fixtures" / "mini" / "feature.yaml"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding the mini manifest; its own cache folder beside it."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "feature.yaml").write_bytes(MINI.read_bytes())
    return folder


def _env(project: Path) -> dict[str, str]:
    return {"PLANFORGE_CACHE_DIR": str(project.parent / "cache")}


def _entries(project: Path) -> list[Path]:
    return sorted((project.parent / "cache" / "runs").glob("*.json"))


def test_a_remembered_rendering_gives_the_same_bytes_as_rendering(project: Path, run_cli: RunCli) -> None:
    """Generating with a warm run cache writes exactly what generating without any cache writes."""
    env = _env(project)
    first = run_cli("generate", "feature.yaml", "-o", "warm", cwd=project, env=env)
    assert first.returncode == 0, first.stderr
    assert len(_entries(project)) == 1
    again = run_cli("generate", "feature.yaml", "-o", "replayed", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    plain = run_cli("generate", "feature.yaml", "-o", "plain", cwd=project, env={"PLANFORGE_NO_CACHE": "1"})
    assert plain.returncode == 0, plain.stderr
    assert _tree(project / "replayed") == _tree(project / "plain")
    assert len(_entries(project)) == 1, "the replay used the entry, it did not make another"
    check = run_cli("check", "feature.yaml", "-o", "replayed", cwd=project, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "up to date" in check.stdout, check.stdout + check.stderr


def test_a_changed_manifest_misses_the_cache(project: Path, run_cli: RunCli) -> None:
    """One changed byte of the manifest renders again: check reports the change, generate writes it."""
    env = _env(project)
    assert run_cli("generate", "feature.yaml", cwd=project, env=env).returncode == 0
    manifest = project / "feature.yaml"
    manifest.write_text(manifest.read_text().replace("title: B Service", "title: B Servicf"))
    stale = run_cli("check", "feature.yaml", cwd=project, env=env)
    assert stale.returncode == 1, stale.stdout
    assert "B Servicf" in stale.stdout, stale.stdout
    assert run_cli("generate", "feature.yaml", cwd=project, env=env).returncode == 0
    assert "B Servicf" in (project / "generated" / "mini" / "INTEGRATION_PLAN.md").read_text()
    assert len(_entries(project)) == 2


def test_a_replayed_run_prints_the_same_warnings(tmp_path: Path, run_cli: RunCli) -> None:
    """Warnings are part of what is remembered: a hit prints them as a fresh run does."""
    manifest = tmp_path / "feature.yaml"
    manifest.write_bytes((CASES / "pf304-unused-event" / "feature.yaml").read_bytes())
    env = {"PLANFORGE_CACHE_DIR": str(tmp_path / "cache")}
    fresh = run_cli("generate", "feature.yaml", cwd=tmp_path, env=env)
    replayed = run_cli("check", "feature.yaml", cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert "warning PF304" in fresh.stderr, fresh.stderr
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stderr == fresh.stderr


def test_a_manifest_with_errors_is_not_remembered(tmp_path: Path, run_cli: RunCli) -> None:
    """Errors are found again on every run (they are cheap), and nothing is stored for them."""
    manifest = tmp_path / "feature.yaml"
    manifest.write_bytes((CASES / "pf201-unknown-service" / "feature.yaml").read_bytes())
    env = {"PLANFORGE_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):
        result = run_cli("check", "feature.yaml", cwd=tmp_path, env=env)
        assert result.returncode == 1, result.stderr
        assert "error PF201" in result.stderr, result.stderr
    assert not list((tmp_path / "cache").glob("runs/*.json"))


def test_a_corrupt_entry_is_a_miss(project: Path, run_cli: RunCli) -> None:
    """A damaged cache file is ignored and rendering happens as if it were not there."""
    env = _env(project)
    assert run_cli("generate", "feature.yaml", "-o", "first", cwd=project, env=env).returncode == 0
    for entry in _entries(project):
        entry.write_text('{"slug": "mini", "owned": {"INTEGRATION_PLAN.md": "wrong"}')
    result = run_cli("generate", "feature.yaml", "-o", "second", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert _tree(project / "first") == _tree(project / "second")


def test_the_key_covers_the_manifest_name_the_reference_and_the_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers and diagnostics name the manifest, and templates shape every file: each is in the key."""
    raw = MINI.read_bytes()
    key = rendercache.run_key(raw, "feature.yaml", "feature.yaml")
    assert rendercache.run_key(raw, "feature.yaml", "feature.yaml") == key
    assert rendercache.run_key(raw + b"\n", "feature.yaml", "feature.yaml") != key
    assert rendercache.run_key(raw, "other.yaml", "feature.yaml") != key
    assert rendercache.run_key(raw, "feature.yaml", "examples/feature.yaml") != key
    data = tmp_path / "data"
    for folder in ("spec", "templates"):
        source = REPO / folder
        for path in source.rglob("*"):
            if path.is_file():
                target = data / folder / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    template = next(p for p in sorted((data / "templates").rglob("*.j2")))
    template.write_text(template.read_text() + "{# changed #}\n")
    monkeypatch.setenv("PLANFORGE_DATA_DIR", str(data))
    resources._data_root.cache_clear()
    rendercache.code_fingerprint.cache_clear()
    try:
        assert rendercache.run_key(raw, "feature.yaml", "feature.yaml") != key
    finally:
        monkeypatch.delenv("PLANFORGE_DATA_DIR")
        resources._data_root.cache_clear()
        rendercache.code_fingerprint.cache_clear()


def _schema_of_one_service(manifest: Path) -> tuple[str, str]:
    """(service, schema) where the object schema is in that service's models only and no event carries it."""
    from planforge.build import build_model
    from planforge.loader import load_manifest
    from planforge.schemawalk import referenced

    model = build_model(load_manifest(manifest), manifest.name)
    named = {name: schema.value for name, schema in model.schemas}
    in_events = set(referenced(named, [event.data.value for event in model.events]))
    for service in model.services:
        for name in service.schemas:
            others = [s for s in model.services if s is not service and name in s.schemas]
            if name in named and not others and name not in in_events and "properties" in named[name]:
                return service.name, name
    raise AssertionError("the example has no schema of one service only")


def test_a_change_to_one_service_rewrites_that_services_models_only(tmp_path: Path, run_cli: RunCli) -> None:
    """After a change to one service's schema, generate rewrites that service's models.py and no other."""
    import yaml

    from planforge.loader import load_manifest

    source = REPO / "examples" / "user-accounts" / "feature.yaml"
    manifest = tmp_path / "feature.yaml"
    manifest.write_bytes(source.read_bytes())
    env = {"PLANFORGE_CACHE_DIR": str(tmp_path / "cache")}
    assert run_cli("generate", "feature.yaml", "-o", "out", cwd=tmp_path, env=env).returncode == 0
    service, schema = _schema_of_one_service(manifest)
    data = load_manifest(manifest).data  # YAML 1.2 scalars: `on` stays a string
    data["schemas"][schema]["properties"]["changedForOneService"] = {"type": "string", "maxLength": 10}
    manifest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    changed = run_cli("generate", "feature.yaml", "-o", "out", cwd=tmp_path, env=env)
    assert changed.returncode == 0, changed.stderr
    written = [line.split()[-1] for line in changed.stdout.splitlines() if line.strip().startswith("write")]
    rewritten = [path for path in written if path.endswith("models.py")]
    assert rewritten == [f"out/user-accounts/services/{service.replace('-', '_')}/models.py"], written


def test_library_versions_in_the_key_are_those_importlib_metadata_reports() -> None:
    """The run key's library versions are read from dist-info folder names, as importlib.metadata finds them."""
    from importlib.metadata import PackageNotFoundError, version

    def reported(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    expected = ",".join(f"{name}={reported(name)}" for name in rendercache._LIBRARIES)
    assert rendercache._versions() == expected
