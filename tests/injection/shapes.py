"""The structure of a generated file, language by language, with every piece of text masked.

Two renderings of one manifest that differ only in free text must give files of equal structure:
the same Python syntax tree, the same YAML/JSON/TOML keys, the same nginx directives, the same shell
lines, the same Markdown blocks and inline markup. A file that does not parse raises
:class:`Unparsable`, naming the file and the parser's message.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import crossplane  # type: ignore[import-untyped]
import yaml
from markdown_it import MarkdownIt

JS_SHAPE = Path(__file__).with_name("js_shape.js")
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


class Unparsable(AssertionError):
    """A generated file that its language's parser refuses."""


def python(path: str, text: str) -> str:
    """The syntax tree with every string constant masked (positions and comments are not in it)."""
    try:
        tree = ast.parse(text, path)
    except SyntaxError as exc:
        raise Unparsable(f"{path}: {exc}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "S"
    return ast.dump(tree)


def data(value: Any) -> Any:
    """A loaded YAML/JSON/TOML value with every string value masked; mapping keys are kept."""
    if isinstance(value, dict):
        return {str(k): data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [data(v) for v in value]
    return "S" if isinstance(value, str) else value


def yaml_document(path: str, text: str) -> Any:
    """YAML as PyYAML (YAML 1.1, the one that also breaks lines at U+0085/U+2028/U+2029) reads it."""
    try:
        return data(list(yaml.safe_load_all(text)))
    except yaml.YAMLError as exc:
        raise Unparsable(f"{path}: {exc}") from exc


def json_document(path: str, text: str) -> Any:
    try:
        return data(json.loads(text))
    except ValueError as exc:
        raise Unparsable(f"{path}: {exc}") from exc


def toml_document(path: str, text: str) -> Any:
    try:
        return data(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise Unparsable(f"{path}: {exc}") from exc


def nginx(path: str, text: str, folder: Path) -> Any:
    """The directives of an nginx file (crossplane, comments dropped), their argument counts kept."""
    file = folder / Path(path).name
    file.write_text(text, encoding="utf-8")
    parsed = crossplane.parse(str(file), single=True, comments=False, check_ctx=False, check_args=False)
    if parsed["errors"]:
        raise Unparsable(f"{path}: {parsed['errors']}")
    return _directives(parsed["config"][0]["parsed"])


def _directives(block: list[dict[str, Any]]) -> list[Any]:
    return [(d["directive"], len(d["args"]), _directives(d.get("block", []))) for d in block]


def shell(path: str, text: str) -> Any:
    """`bash -n` accepts the script; its lines, comments as '#' and quoted words masked, are its structure."""
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        raise Unparsable(f"{path}: bash -n: {checked.stderr}")
    return [
        "#" if line.lstrip().startswith("#") else re.sub(r"'[^']*'|\"(\\.|[^\"\\])*\"", "S", line)
        for line in text.splitlines()
    ]


def markdown(_path: str, text: str) -> Any:
    """Markdown blocks and inline markup (markdown-it), text masked; Mermaid blocks with their labels masked."""
    found = []
    for token in _MARKDOWN.parse(text):
        if token.type == "fence" and token.info == "mermaid":
            found.append(("mermaid", _mermaid_shape(token.content)))
        elif token.type != "fence":
            found.append((token.type, token.tag, token.nesting, _inline(token.children or [])))
    return found


# Sequence diagrams carry labels unquoted: after `as` (participants), after the keyword of a block, after the `:`
# of a message or note. Labels are masked; what stays is every line's kind, ids and arrows.
_SEQUENCE_LABELS = (
    re.compile(r"^(\s*(?:participant|actor)\s+\S+\s+as\s).*$"),
    re.compile(r"^(\s*(?:opt|alt|else|loop|rect|critical|break|par|and)\s).*$"),
    re.compile(r"^([^:]*?(?:-{1,2}>>|-{1,2}>|-{1,2}x|-{1,2}\)|Note [^:]*)):.*$"),
)


def _mermaid_shape(content: str) -> str:
    """A mermaid block with its labels masked: quoted ones (flowcharts) and a sequence diagram's unquoted ones."""
    lines = []
    for line in re.sub(r'"[^"\n]*"', "S", content).split("\n"):
        for label in _SEQUENCE_LABELS:
            line = label.sub(r"\1S", line)
        lines.append(line)
    return "\n".join(lines)


def _inline(children: list[Any]) -> list[tuple[str, str]]:
    kinds: list[tuple[str, str]] = []
    for child in children:
        kind = "text" if child.type in ("text", "text_special") else child.type
        if kind == "text" and kinds and kinds[-1][0] == "text":
            continue
        kinds.append((kind, child.tag))
    return kinds


def javascript(files: dict[str, str], folder: Path) -> dict[str, Any]:
    """Each JavaScript file's syntax tree (acorn, in Node), literals masked; also checked by `node --check`."""
    paths = {}
    for index, (path, text) in enumerate(sorted(files.items())):
        file = folder / f"{index}.mjs"
        file.write_text(text, encoding="utf-8")
        checked = subprocess.run(["node", "--check", str(file)], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise Unparsable(f"{path}: node --check: {checked.stderr}")
        paths[str(file)] = path
    result = subprocess.run(["node", str(JS_SHAPE), *paths], capture_output=True, text=True, timeout=60, check=True)
    trees = json.loads(result.stdout)
    for file, tree in trees.items():
        if "error" in tree:
            raise Unparsable(f"{paths[file]}: {tree['error']}")
    return {paths[file]: tree for file, tree in trees.items()}


_BY_SUFFIX = {
    ".py": python,
    ".yaml": yaml_document,
    ".yml": yaml_document,
    ".json": json_document,
    ".toml": toml_document,
    ".sh": shell,
    ".md": markdown,
}


def of_files(files: dict[str, str], folder: Path) -> dict[str, Any]:
    """The structure of every generated file, by path; raises Unparsable for the first that does not parse."""
    shapes: dict[str, Any] = {}
    for path, text in sorted(files.items()):
        suffix = Path(path).suffix
        if suffix in _BY_SUFFIX:
            shapes[path] = _BY_SUFFIX[suffix](path, text)
        elif suffix == ".conf" and "/rabbitmq/" not in path:
            shapes[path] = nginx(path, text, folder)
        elif suffix != ".js":
            shapes[path] = _lines(text)
    return shapes | javascript({p: t for p, t in files.items() if p.endswith(".js")}, folder)


def _lines(text: str) -> list[str]:
    """Line-oriented files (Dockerfile, .env, rabbitmq.conf, requirements): the first word of each line kept."""
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        found.append("#" if stripped.startswith("#") else stripped.split(" ", 1)[0].split("=", 1)[0])
    return found
