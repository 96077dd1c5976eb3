"""The command line as a user sees it, snapshot-tested: the seed as written, in each output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# --- exit codes: one per kind of error, from its type (planforge.errors) -----------------------------------------

EXAMPLE = "examples/user-accounts/feature.yaml"


def _patched_cli(
    patch: str, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh process after `patch` (Python source) replaced part of planforge."""
    code = f"import sys\n{patch}\nfrom planforge.cli import main\nsys.argv = ['planforge', *sys.argv[1:]]\nmain()\n"
    env = {**{k: v for k, v in os.environ.items() if k != "PLANFORGE_DEBUG"}, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _shown(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    """Exit code and output with the temporary folder replaced, for a snapshot."""
    text = f"exit {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    return text.replace(str(tmp_path), "TMP")


def test_exit_0_for_a_clean_manifest(run_cli: RunCli, snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """A manifest without errors validates with exit 0."""
    assert _shown(run_cli("validate", EXAMPLE), tmp_path) == snapshot


def test_exit_1_for_stale_output(run_cli: RunCli, snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """Check after a generated file was changed and another removed: FindingsError, exit 1, both listed."""
    mini = "tests/fixtures/mini/feature.yaml"
    assert run_cli("generate", mini, "-o", str(tmp_path)).returncode == 0
    (tmp_path / "mini" / "pyproject.toml").unlink()
    changed = tmp_path / "mini" / "asyncapi.yaml"
    changed.write_text(changed.read_text().replace("asyncapi:", "asyncapi:  # changed", 1))
    result = run_cli("check", mini, "-o", str(tmp_path))
    assert result.returncode == 1
    assert _shown(result, tmp_path) == snapshot


def test_exit_1_for_an_edited_file(run_cli: RunCli, snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """Generate refusing to overwrite a file a person edited: FindingsError, exit 1, PF901 printed once."""
    assert run_cli("generate", EXAMPLE, "-o", str(tmp_path)).returncode == 0
    edited = tmp_path / "user-accounts" / "INTEGRATION_PLAN.md"
    edited.write_text(edited.read_text() + "my note\n")
    result = run_cli("generate", EXAMPLE, "-o", str(tmp_path))
    assert result.returncode == 1
    assert _shown(result, tmp_path) == snapshot


def test_exit_2_for_a_missing_manifest(run_cli: RunCli, snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """A manifest path that is no file: InputError, exit 2, one line."""
    result = run_cli("validate", str(tmp_path / "nothing.yaml"))
    assert result.returncode == 2
    assert _shown(result, tmp_path) == snapshot


def test_exit_2_for_output_that_cannot_be_written(run_cli: RunCli, snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """An output root below a plain file: InputError, exit 2, nothing written."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("generate", EXAMPLE, "-o", str(blocker / "out"))
    assert result.returncode == 2
    assert _shown(result, tmp_path) == snapshot
    assert blocker.read_text() == ""


def test_exit_code_follows_the_type_not_the_message(snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """A manifest that cannot be read is exit 2 whatever its diagnostic says; a load error is exit 1."""
    unreadable = (
        "import planforge.pipeline as p\n"
        "from planforge.diagnostics import Diagnostic, Severity\n"
        "from planforge.loader import LoadError, ReadError\n"
        "def refuse(path, shown):\n"
        "    d = Diagnostic('PF001', Severity.ERROR, shown, 0, 0, 'the disk said EIO', '')\n"
        "    raise (ReadError if path.name == 'read.yaml' else LoadError)([d])\n"
        "p.read_manifest = refuse\n"
    )
    read = tmp_path / "read.yaml"
    load = tmp_path / "load.yaml"
    for path in (read, load):
        path.write_text("planforge: 1\n")
    results = {
        "validate read": _patched_cli(unreadable, "validate", str(read)),
        "check read": _patched_cli(unreadable, "check", str(read), "-o", str(tmp_path)),
        "validate load": _patched_cli(unreadable, "validate", str(load)),
    }
    assert [r.returncode for r in results.values()] == [2, 2, 1]
    assert {name: _shown(r, tmp_path) for name, r in results.items()} == snapshot


def test_exit_3_for_an_internal_error(snapshot: SnapshotAssertion, tmp_path: Path) -> None:
    """A target that renders an unsafe path is planforge's bug: InternalError, exit 3, nothing written."""
    broken = (
        "import planforge.rendercache as c\n"
        "import planforge.targets.registry as r\n"
        "c.recall = lambda key: None\n"
        "def render_targets(model, names=None):\n"
        "    r._claim('../escape', {})\n"
        "r.render_targets = render_targets\n"
    )
    result = _patched_cli(broken, "generate", EXAMPLE, "-o", str(tmp_path))
    assert result.returncode == 3
    assert _shown(result, tmp_path) == snapshot
    assert list(tmp_path.iterdir()) == []


def test_exit_3_for_any_other_exception() -> None:
    """An exception outside the family is a bug too: one line naming it, exit 3, no traceback."""
    broken = "import planforge.pipeline as p\ndef boom(*a, **k):\n    raise KeyError('x')\np.validate = boom\n"
    result = _patched_cli(broken, "validate", EXAMPLE)
    assert result.returncode == 3
    assert result.stderr.startswith("planforge: internal error: KeyError: 'x'")
    assert "Traceback" not in result.stderr


def test_every_error_of_planforge_has_the_exit_code_of_its_kind() -> None:
    """Each error class planforge raises belongs to the family, and its exit code is its branch's."""
    from planforge.errors import (
        FindingsError,
        InputError,
        InternalError,
        MissingDependency,
        MissingExtra,
        PlanforgeError,
    )
    from planforge.loader import LoadError, ReadError
    from planforge.stack import StackError, StackUsageError
    from planforge.stack.replay import ReplayError, ReplayUsageError
    from planforge.targets.registry import TargetError

    kinds: dict[type[PlanforgeError], int] = {
        MissingDependency: 2,
        LoadError: 1,
        StackError: 1,
        ReplayError: 1,
        ReadError: 2,
        StackUsageError: 2,
        ReplayUsageError: 2,
        MissingExtra: 2,
        TargetError: 3,
    }
    branch = {1: FindingsError, 2: InputError, 3: InternalError}
    for kind, code in kinds.items():
        assert issubclass(kind, branch[code]), kind
        assert kind.exit_code == code, kind


# --- a missing package: exit 2 naming what to install, never 3 --------------------------------------------------

_HIDE = """
import importlib.abc, importlib.metadata as md, re
MODULES, DISTRIBUTIONS = {modules!r}, {distributions!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in MODULES:
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
sys.meta_path.insert(0, Hide())
shown = md.distribution
def distribution(name):
    if re.sub(r'[-_.]+', '-', name).lower() in DISTRIBUTIONS:
        raise md.PackageNotFoundError(name)
    return shown(name)
md.distribution = distribution
"""


def _hiding(modules: set[str], distributions: set[str]) -> str:
    """Python source that makes the modules unimportable and the distributions' metadata absent, as uninstalled."""
    return _HIDE.format(modules=modules, distributions=distributions)


def test_plain_install_without_the_template_engine_says_what_to_install(tmp_path: Path) -> None:
    """jinja2 hidden: validate and schema still work; generate and check exit 2 naming it."""
    hidden = _hiding({"jinja2"}, {"jinja2"})
    cold = {"PLANFORGE_NO_CACHE": "1"}
    assert _patched_cli(hidden, "validate", EXAMPLE, env=cold).returncode == 0
    assert _patched_cli(hidden, "schema", env=cold).returncode == 0
    for command in (["generate", EXAMPLE, "-o", str(tmp_path)], ["check", EXAMPLE, "-o", str(tmp_path)]):
        result = _patched_cli(hidden, *command, env=cold)
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            "planforge: jinja2 is not installed, but planforge needs it: reinstall planforge "
            "with its dependencies (pip install planforge)\n"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_is_named() -> None:
    """A command reaching a module of an extra that is not installed: exit 2 and `pip install 'planforge[extra]'`."""
    needs_extra = "import planforge.pipeline as p\ndef validate(*a, **k):\n    import syrupy\np.validate = validate\n"
    result = _patched_cli(_hiding({"syrupy"}, {"syrupy"}) + needs_extra, "validate", EXAMPLE)
    assert result.returncode == 2
    assert result.stderr == (
        "planforge: syrupy is not installed; it comes with an extra: pip install 'planforge[test]'\n"
    )


def test_a_module_planforge_does_not_declare_is_a_bug() -> None:
    """An import of something no requirement provides is planforge's own mistake: exit 3."""
    broken = "import planforge.pipeline as p\ndef validate(*a, **k):\n    import no_such_module_x\n"
    broken += "p.validate = validate\n"
    result = _patched_cli(broken, "validate", EXAMPLE)
    assert result.returncode == 3
    expected = "planforge: internal error: ModuleNotFoundError: No module named 'no_such_module_x'"
    assert result.stderr.startswith(expected)


def test_missing_parts_are_looked_up_in_the_declared_requirements() -> None:
    """Module or distribution -> what to install, from planforge's and planforge-runtime's metadata."""
    from importlib.metadata import PackageNotFoundError

    from planforge.errors import MissingDependency, MissingExtra
    from planforge.installed import missing_part

    runtime_dep = missing_part(ModuleNotFoundError("x", name="aio_pika.abc"))
    assert isinstance(runtime_dep, MissingDependency)
    assert runtime_dep.distribution == "aio-pika"
    core = missing_part(PackageNotFoundError("jinja2"))
    assert isinstance(core, MissingDependency)
    assert core.exit_code == 2
    extra = missing_part(ModuleNotFoundError("x", name="syrupy"))
    assert isinstance(extra, MissingExtra)
    assert extra.extra == "test"
    assert missing_part(ModuleNotFoundError("x", name="no_such_module_x")) is None
