r"""Manifest text never becomes code or markup: hostile text in every free-text field changes no file's structure.

A hypothesis strategy puts random Unicode text (quotes, backslashes, `\N{...}`, U+2028/U+2029/U+0085,
CR/LF where the schema allows them, and nginx, JavaScript, shell and Markdown metacharacters) into every
free-text field of each example (found by walking the manifest with its JSON Schema). Every generated file
must then parse (ast.parse, node --check and acorn, PyYAML, json, tomllib, bash -n and bashlex, crossplane
for nginx, markdown-it) and have the same structure as the rendering with neutral text. A fixed set of the
known attacks additionally goes through `nginx -t` and an import of every generated test module that must
run no command. PLANFORGE_FUZZ_EXAMPLES sets the number of random manifests (default: a bounded few).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planforge.pipeline import render, validate

from .conftest import EXAMPLES, REPO
from .injection import manifests, names, shapes

NODE_MODULES = REPO / "node_modules" / "acorn"
NGINX = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None)
FUZZ_EXAMPLES = int(os.environ.get("PLANFORGE_FUZZ_EXAMPLES", "4"))
FIXED = "PLANFORGE_FUZZ_EXAMPLES" not in os.environ  # CI runs the same bounded examples every time

pytestmark = pytest.mark.skipif(not NODE_MODULES.exists(), reason="npm install first: acorn parses the JavaScript")

# Pieces of hostile text: the attacks and each output language's metacharacters.
ATTACKS = (
    'Acme""" + str(__import__("os").system("touch /tmp/planforge-pwned")) + """',
    "\\N{x} \\x9 \\u12 \\",
    "a\u2028b: injected\u2029c\x85d",
    "`` ` ```x ]( <b>bold</b> &amp; | cell | # h *em* _u_ ~~s~~ [l](http://x) ![i](x)",
    "$(touch /tmp/p) `id` ; rm -rf / ' \" \\",
    '"; return 1; } location /x { return 200 "$host',
    "*/ alert(1); /* ${x} `${y}`",
    "- item",
    "1. item",
    "'''",
    '"',
    "\\",
    "#",
)
_PIECES = st.one_of(
    st.sampled_from(ATTACKS),
    st.sampled_from(list("\"'`\\$;{}[]()<>|&*_#~!=+-\u2028\u2029\x85\r\n\t")),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
HOSTILE = st.lists(_PIECES, min_size=1, max_size=6).map("".join)
_C0 = re.compile(r"[\x00-\x1f\x7f]")
_MARKERS = ("{{", "{%", "{#", "<script", "```", "-->")


def _allowed(text: str, *, one_line: bool) -> str:
    """The text as a manifest allows it: without PF711's markers; in `text` fields, without control characters."""
    if one_line:
        text = _C0.sub("?", text)
    lowered = text.lower()
    while any(marker in lowered for marker in _MARKERS):
        for marker in _MARKERS:
            text = re.sub(re.escape(marker), marker[0] + " " + marker[1:], text, flags=re.I)
        lowered = text.lower()
    return text[:480]


def _rendering(data: dict[str, Any], folder: Path) -> dict[str, str] | None:
    manifest = manifests.write(data, folder)
    validation = validate(manifest)
    if not validation.ok or validation.document is None:
        return None
    output = render(validation.document, "feature.yaml").output
    return {**output.owned, **output.user}


def _variants(example: str, pool: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example with hostile text in every text field, and the same with the neutral text of each."""
    data = manifests.example_data(REPO / "examples" / example / "feature.yaml")
    paths = manifests.text_paths(data)
    originals = sorted({manifests._get(data, p) for p in paths})
    index = {text: i for i, text in enumerate(originals)}
    texts_in_schemas = {p for p in paths if p[-1] in ("description", "title") and "schemas" in p[:1]}

    def hostile(path: manifests.Path_) -> str:
        text = manifests._get(data, path)
        i = index[text]
        return _allowed(f"{i} {pool[i % len(pool)]}", one_line=path not in texts_in_schemas)

    fuzzed = _replace_each(data, paths, hostile)
    calm = _replace_each(fuzzed, paths, lambda p: manifests.neutral(manifests._get(fuzzed, p)))
    return fuzzed, calm


def _replace_each(data: Any, paths: list[manifests.Path_], value: Any) -> Any:
    copy = manifests.replaced(data, [], str)
    for path in paths:
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value(path)
    return copy


def _no_raw_line_breaks(files: dict[str, str]) -> None:
    r"""No file holds a character some parser takes as a line break, besides \n."""
    for path, text in files.items():
        odd = sorted({hex(ord(c)) for c in text if c in "\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"})
        assert not odd, f"{path} holds raw line-breaking characters {odd}"


def check_structure(example: str, pool: list[str], *, fuzzing: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """Render the example with hostile and with neutral text; every file parses and has the same structure."""
    fuzzed, calm = _variants(example, pool)
    with tempfile.TemporaryDirectory() as hostile_dir, tempfile.TemporaryDirectory() as calm_dir:
        hostile_files = _rendering(fuzzed, Path(hostile_dir))
        calm_files = _rendering(calm, Path(calm_dir))
        if fuzzing:
            assume(hostile_files is not None and calm_files is not None)
        assert hostile_files is not None, "the manifest with hostile text does not validate"
        assert calm_files is not None, "the manifest with neutral text does not validate"
        assert sorted(hostile_files) == sorted(calm_files)
        _no_raw_line_breaks(hostile_files)
        hostile_shapes = shapes.of_files(hostile_files, Path(hostile_dir))
        calm_shapes = shapes.of_files(calm_files, Path(calm_dir))
    for path in sorted(hostile_shapes):
        assert hostile_shapes[path] == calm_shapes[path], f"{path}: hostile text changed the structure"
    return hostile_files, calm_files


@pytest.mark.parametrize("example", EXAMPLES)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=FIXED)
@given(pool=st.lists(HOSTILE, min_size=1, max_size=5))
def test_hostile_text_changes_no_structure(example: str, pool: list[str]) -> None:
    """Random hostile text in every free-text field: every file parses, with the structure of neutral text."""
    check_structure(example, pool, fuzzing=True)


@pytest.mark.parametrize("example", EXAMPLES)
def test_known_attacks_change_no_structure(example: str) -> None:
    """Each of the issue's attacks, alone, in every free-text field."""
    for attack in ATTACKS:
        check_structure(example, [attack])


@pytest.mark.parametrize("example", EXAMPLES)
def test_importing_generated_tests_runs_no_injected_code(example: str, tmp_path: Path) -> None:
    """The generated test modules with the attacks in every text field import without running a command."""
    files, _ = check_structure(example, list(ATTACKS))
    for path, text in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    modules = sorted(p for p in files if p.startswith("tests/") and p.endswith(".py"))
    script = _IMPORTER.format(root=str(tmp_path), modules=modules)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported" in result.stdout


_IMPORTER = """
import importlib.util, sys
root = {root!r}
sys.path[:0] = [root, root + "/services"]
def refuse(event, args):
    if event in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork"):
        raise SystemExit("generated test module ran " + event + ": " + repr(args)[:200])
sys.addaudithook(refuse)
for path in {modules!r}:
    name = path.removesuffix(".py").replace("/", ".")
    spec = importlib.util.spec_from_file_location(name, root + "/" + path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
print("imported", len({modules!r}))
"""


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
@pytest.mark.parametrize("example", EXAMPLES)
def test_gateway_with_attacks_passes_nginx_check(example: str, tmp_path: Path) -> None:
    """The gateway configuration rendered with the attacks in every text field passes `nginx -t`."""
    files, _ = check_structure(example, list(ATTACKS))
    conf = tmp_path / "conf"
    for path, text in files.items():
        if path.startswith("gateway/"):
            target = conf / path.removeprefix("gateway/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    command = [str(NGINX), "-e", "stderr", "-t", "-p", str(tmp_path), "-c", str(conf / "nginx.conf")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


# --- Names ----------------------------------------------------------------------------------------------------------

# Refusals a renamed manifest may get: names that would shadow Python (PF703), collide once converted (PF704) or
# become a database every server has (PF713). Any other diagnostic means the renaming changed what it means.
_NAME_RULES = frozenset({"PF703", "PF704", "PF713"})
_WORD = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
_SCHEMA_WORD = st.from_regex(r"[A-Z][A-Za-z0-9]{0,7}", fullmatch=True)
_KEPT = frozenset({"client", "gateway"})  # not names: the actors of flow steps


def _renamed(example: str, words: list[str], schemas: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example, and the example with its names replaced in order by words and schemas (each long enough)."""
    data = manifests.example_data(REPO / "examples" / example / "feature.yaml")
    found = names.names_of(data)
    rename = names.renamer(
        names.order_preserving(found["word"], words), names.order_preserving(found["schema"], schemas)
    )
    return data, names.renamed(data, rename)


def _name_pool(size: int, reserved: tuple[str, ...], word: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(st.sampled_from(reserved), word), min_size=size, max_size=size, unique=True).filter(
        lambda pool: not _KEPT & set(pool)
    )


@cache
def _original_shapes(example: str) -> Counter[str]:
    """The example's files, names masked, as its own names render them."""
    data = manifests.example_data(REPO / "examples" / example / "feature.yaml")
    with tempfile.TemporaryDirectory() as folder:
        files = _rendering(data, Path(folder))
        assert files is not None
        return names.of_files(files, Path(folder))


def check_names(example: str, words: list[str], schemas: list[str], folder: Path) -> list[Any]:
    """Render the example with its names replaced: refused only by the name rules, with located diagnostics, or
    every file parses and has, names masked, the structure of the original rendering. Returns the refusals."""
    _, renamed = _renamed(example, words, schemas)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = manifests.write(renamed, folder)
    validation = validate(manifest)
    refusals = [d for d in validation.diagnostics if d.severity.value == "error"]
    if refusals:
        assert {d.code for d in refusals} <= _NAME_RULES, [d.message for d in refusals]
        assert all(d.line > 0 for d in refusals)
        return refusals
    assert validation.document is not None
    output = render(validation.document, "feature.yaml").output
    renamed_files = {**output.owned, **output.user}
    _no_raw_line_breaks(renamed_files)
    with tempfile.TemporaryDirectory() as scratch:
        renamed_shapes = names.of_files(renamed_files, Path(scratch))
    original_shapes = _original_shapes(example)
    assert sum(renamed_shapes.values()) == sum(original_shapes.values()), "renaming changed the number of files"
    changed = sorted((renamed_shapes - original_shapes).items())
    assert not changed, f"renaming changed the structure of {sum(n for _, n in changed)} file(s): {changed[:1]}"
    return []


@pytest.mark.parametrize("example", EXAMPLES)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=FIXED)
@given(data=st.data())
def test_hostile_names_change_no_structure(example: str, data: st.DataObject, tmp_path_factory: Any) -> None:
    """Random names (reserved words of Python, JavaScript, nginx, SQL, YAML and shell among them) for every
    service, datastore, queue, exchange, cache, event, route and schema: refused by a name rule, or every file
    parses with the structure of the original names (refused names are replaced until the manifest validates)."""
    found = names.names_of(manifests.example_data(REPO / "examples" / example / "feature.yaml"))
    words = data.draw(_name_pool(len(found["word"]), names.RESERVED, _WORD))
    schemas = data.draw(_name_pool(len(found["schema"]), names.RESERVED_SCHEMAS, _SCHEMA_WORD))
    _validating_renaming(example, words, schemas, tmp_path_factory.mktemp("names"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_reserved_words_as_names_change_no_structure(example: str, tmp_path: Path) -> None:
    """Every name replaced by a reserved word, window after window of the list until each word was tried;
    the words a name rule refuses are dropped and the rest tried again, until the manifest validates: then every
    file parses with the structure of the original names."""
    found = names.names_of(manifests.example_data(REPO / "examples" / example / "feature.yaml"))
    size = len(found["word"])
    accepted: set[str] = set()
    for start in range(0, len(names.RESERVED), size):
        window = [*names.RESERVED, *names.RESERVED][start : start + size]
        accepted |= _validating_renaming(example, window, list(names.RESERVED_SCHEMAS), tmp_path / str(start))
    assert len(accepted) >= len(names.RESERVED) // 2, "too few reserved words survived the name rules"


def _validating_renaming(example: str, words: list[str], schemas: list[str], folder: Path) -> set[str]:
    """check_names with words and schemas, dropping refused ones (refilled with plain words) until it validates;
    the reserved words that remained."""
    found = names.names_of(manifests.example_data(REPO / "examples" / example / "feature.yaml"))
    filler = (f"z{i}" for i in range(1000))
    for attempt in range(40):
        words = [*words, *(next(filler) for _ in range(len(found["word"]) - len(words)))]
        schemas = [*schemas, *(f"Z{i}" for i in range(len(found["schema"]) - len(schemas)))]
        refusals = check_names(example, words, schemas, folder / str(attempt))
        if not refusals:
            return set(words) & set(names.RESERVED)
        refused = {w for d in refusals for w in re.findall(r"'([A-Za-z0-9_.-]+)'", d.message)}
        kept = [w for w in words if w not in refused]
        kept_schemas = [s for s in schemas if s not in refused]
        assert (kept, kept_schemas) != (words, schemas), [d.message for d in refusals]
        words, schemas = kept, kept_schemas
    raise AssertionError("no renaming with reserved words validated")
