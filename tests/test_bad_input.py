"""Bad input of any kind: a located, coded diagnostic, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from planforge.loader import MAX_BYTES

from .conftest import RunCli

ALIAS_BOMB = (
    "\n".join(
        ["planforge: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    )
    + "\n"
)

BAD_INPUTS: dict[str, bytes] = {
    "huge": b"planforge: 1\n" + b"# padding\n" * (MAX_BYTES // 10 + 1),
    "alias-bomb": ALIAS_BOMB.encode(),
    "binary": bytes(range(256)),
    "latin1": "planforge: 1\nfeature: {name: Caf\xe9}\n".encode("latin-1"),
    "control-char": b"planforge: 1\nfeature: \x07\n",
    "two-documents": b"planforge: 1\n---\nplanforge: 1\n",
    "tab-indent": b"planforge: 1\nfeature:\n\tname: x\n",
    "python-tag": b"planforge: !!python/object/apply:os.system [echo pwned]\n",
    "recursive-alias": b"planforge: 1\nloop: &l [*l]\n",
    "scalar-root": b"just a string\n",
    "null-root": b"~\n",
    "comments-only": b"# nothing here\n# at all\n",
}
EXPECTED_CODES = {
    "huge": "PF002",
    "alias-bomb": "PF007",
    "binary": "PF001",
    "latin1": "PF001",
    "control-char": "PF001",
    "two-documents": "PF008",
    "tab-indent": "PF003",
    "python-tag": "PF009",
    "recursive-alias": "PF007",
    "scalar-root": "PF006",
    "null-root": "PF005",
    "comments-only": "PF005",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_a_located_diagnostic(name: str, tmp_path: Path, run_cli: RunCli) -> None:
    """Both validate and generate refuse with the expected code, FILE:LINE:COL, and no traceback."""
    manifest = tmp_path / "feature.yaml"
    manifest.write_bytes(BAD_INPUTS[name])
    out = tmp_path / "out"
    for args in (("validate", str(manifest)), ("generate", str(manifest), "-o", str(out))):
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"{manifest}:"), first
        assert f"error {EXPECTED_CODES[name]}:" in first, first
    assert not out.exists()


def test_missing_file_is_a_usage_error(tmp_path: Path, run_cli: RunCli) -> None:
    """A path that does not exist exits 2 with one line naming it."""
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"planforge: {tmp_path / 'nope.yaml'}: no such manifest file"


def test_unknown_option_is_a_usage_error(run_cli: RunCli) -> None:
    """Bad command-line usage exits 2."""
    assert run_cli("validate", "--no-such-option").returncode == 2
