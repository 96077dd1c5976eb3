"""planforge.escape: each output language's escaping keeps hostile text a value of that language."""

from __future__ import annotations

import ast
import json

import pytest
import yaml
from markdown_it import MarkdownIt

from planforge import escape

NASTY = [
    'Acme""" + str(__import__("os").system("id")) + """',
    "\\N{x} \\x9 \\",
    "a\u2028b\u2029c\x85d",
    "`code` ``x`` ` <b>raw</b> | # * _ [l](x)",
    "'\"'\"",
    "\r\n\t\x00\x7f\x9b",
]


@pytest.mark.parametrize("text", NASTY)
def test_python_literal_holds_the_text(text: str) -> None:
    assert ast.literal_eval(escape.py_str(text)) == text


@pytest.mark.parametrize("text", NASTY)
def test_docstring_is_one_inert_string(text: str) -> None:
    tree = ast.parse(f'def f():\n    """Doc: {escape.py_doc(text)}."""\n')
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    assert len(function.body) == 1
    assert isinstance(function.body[0], ast.Expr)
    assert isinstance(function.body[0].value, ast.Constant)


@pytest.mark.parametrize("text", NASTY)
def test_comment_never_breaks_a_line(text: str) -> None:
    line = escape.comment(text)
    assert line.splitlines() in ([line], [])
    assert yaml.safe_load(f"# {line}\nkey: 1\n") == {"key": 1}


@pytest.mark.parametrize("text", NASTY)
def test_yaml_and_json_scalars_hold_the_text(text: str) -> None:
    assert yaml.safe_load(f"key: {escape.yaml_str(text)}\n") == {"key": text}
    assert json.loads(escape.json_str(text)) == text
    assert yaml.safe_load(escape.yaml_document({"key": text})) == {"key": text}
    assert not any(c in escape.js_str(text) for c in "\u2028\u2029\n\r")


@pytest.mark.parametrize("text", NASTY)
def test_markdown_code_span_and_text_stay_inert(text: str) -> None:
    md = MarkdownIt("commonmark")
    [paragraph] = [t for t in md.parse(f"A {escape.md_code(text)} and {escape.md_text(text)}.") if t.type == "inline"]
    kinds = [child.type for child in paragraph.children or []]
    assert kinds.count("code_inline") == 1
    assert "html_inline" not in kinds
    assert "em_open" not in kinds


def test_shell_word_and_nginx_string() -> None:
    assert escape.sh_word("a'b $(id)") == "'a'\"'\"'b $(id)'"
    assert escape.nginx_str('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError, match="cannot hold '\\$' literally"):
        escape.nginx_str("$host")


@pytest.mark.parametrize("name", ["on", "off", "yes", "No", "y", "n", "true", "null", "user-service", "select", "a_b"])
def test_yaml_key_is_read_back_as_the_same_string(name: str) -> None:
    """A name as a mapping key stays that string for YAML 1.1 readers (PyYAML) and YAML 1.2 ones; plain if it can."""
    document = f"{escape.yaml_key(name)}: 1\n"
    assert yaml.safe_load(document) == {name: 1}
    assert yaml.load(document, Loader=yaml.BaseLoader) == {name: "1"}
    assert (escape.yaml_key(name) == name) == (name.lower() not in ("on", "off", "yes", "no", "y", "n", "true", "null"))
