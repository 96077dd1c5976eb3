"""One escaping function per output language: how manifest text is written into generated files.

Manifest text is untrusted data. Every value a template or target writes passes through the function of
the language it lands in, so it can only ever be a string of that language, never its syntax:
Python string literals and docstrings, YAML and JSON scalars, JavaScript strings, nginx strings, shell
words, Markdown text, code spans and table cells, Mermaid labels, and comment lines of any language.

Line breaks are the subtle part: YAML 1.1 (PyYAML) also breaks lines at U+0085, U+2028 and U+2029,
JavaScript at U+2028 and U+2029, so a comment or a scalar that holds one of them raw can end early and
let the rest of the text become code. Every function here escapes or removes them.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from functools import lru_cache
from typing import Any

from planforge.jsontext import indented_json

__all__ = [
    "FILTERS",
    "comment",
    "js_str",
    "json_document",
    "json_str",
    "md_cell",
    "md_code",
    "md_text",
    "mermaid_label",
    "nginx_str",
    "one_line",
    "py_doc",
    "py_str",
    "sh_word",
    "yaml_document",
    "yaml_key",
    "yaml_str",
]

# Characters some parser of the output languages takes as a line break, besides \n and \r.
_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"


# Printable ASCII is never invisible nor a line break: only the other characters are looked up, one by one.
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_NOT_PRINTABLE_ASCII_OR_NEWLINE = re.compile(r"[^\x20-\x7e\n]")


def _invisible(char: str) -> bool:
    """Control, format, separator (line/paragraph), surrogate and unassigned code points."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _breaking(char: str) -> bool:
    """Invisible, or a line break for some output language."""
    return char in _LINE_BREAKS or _invisible(char)


def one_line(text: object) -> str:
    """Text on one line: every line break of any language and every control character become one space."""
    cleaned = _NOT_PRINTABLE_ASCII.sub(lambda found: " " if _breaking(found[0]) else found[0], str(text))
    return " ".join(cleaned.split())


def comment(text: object) -> str:
    """Text for the rest of a comment line (#, //, --): never a line break, so it cannot end the comment."""
    return one_line(text).replace("*/", "* /")


def _unicode_escapes(literal: str) -> str:
    r"""JSON text with every invisible or line-breaking code point as a \u escape (its own newlines kept)."""
    return _NOT_PRINTABLE_ASCII_OR_NEWLINE.sub(_json_escape, literal)


def _json_escape(found: re.Match[str]) -> str:
    char = found[0]
    if not _breaking(char):
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else "\\u{:04x}\\u{:04x}".format(*_surrogates(code))


def _surrogates(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def json_str(value: object) -> str:
    """A JSON value on one line (a string literal for text), invisible and line-breaking characters escaped."""
    return _unicode_escapes(json.dumps(value, ensure_ascii=False))


def json_document(value: Any, indent: int | None = 2, *, sort_keys: bool = False) -> str:
    """A JSON document of plain data, non-ASCII kept readable but line-breaking characters escaped."""
    if indent is None:
        return _unicode_escapes(json.dumps(value, ensure_ascii=False, sort_keys=sort_keys))
    return _unicode_escapes(indented_json(value, indent, sort_keys=sort_keys))


def js_str(value: object) -> str:
    """A JavaScript string literal of value (a JSON string, with U+2028/U+2029 escaped)."""
    return json_str(value)


# Plain scalars that some YAML reader takes for something else than a string: YAML 1.1's booleans and nulls
# (PyYAML, most tools), YAML 1.2's (`true`, `null`, `~`), and 1.1's one-letter booleans (`y`, `n`).
_YAML_SPECIAL = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
_YAML_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def yaml_key(value: str) -> str:
    """A name as a YAML mapping key: plain when every YAML reader takes it for that string, else double-quoted."""
    if _YAML_PLAIN_NAME.fullmatch(value) and value.lower() not in _YAML_SPECIAL:
        return value
    return json_str(value)


def yaml_str(value: object) -> str:
    """A YAML flow value (a double-quoted scalar for text); U+0085/U+2028/U+2029 escaped, which YAML 1.1 breaks at."""
    return json_str(value)


def _py_escapes(literal: str) -> str:
    r"""A Python literal with every invisible or line-breaking code point as a \u/\U escape."""
    return _NOT_PRINTABLE_ASCII.sub(_py_escape, literal)


def _py_escape(found: re.Match[str]) -> str:
    char = found[0]
    if not _breaking(char):
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def py_str(value: object) -> str:
    """A Python string literal holding value exactly, quoted as ruff format quotes it."""
    return _py_literal(str(value))


@lru_cache(maxsize=1 << 16)
def _py_literal(text: str) -> str:
    """py_str of text (remembered: generated modules repeat the same names and keywords many times)."""
    literal = json.dumps(text, ensure_ascii=False) if text.count('"') <= text.count("'") else repr(text)
    return _py_escapes(literal)


def py_doc(text: object) -> str:
    """Text for a one-line triple-quoted docstring: one line, backslashes and quotes escaped."""
    line = one_line(text).replace("\\", "\\\\").replace('"', '\\"')
    return line


def nginx_str(value: object) -> str:
    """An nginx double-quoted string of value; nginx has no escape for '$', so text holding one is refused."""
    text = one_line(value)
    if "$" in text:
        raise ValueError(f"an nginx string cannot hold '$' literally: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sh_word(value: object) -> str:
    """One shell word that the shell takes literally."""
    return shlex.quote(str(value))


_MD_SPECIAL = re.compile(r"([\\`*_~\[\]<>|#])")
# What starts a block at the beginning of a line: a list item, a heading underline, a numbered item.
_MD_LINE_START = re.compile(r"^([-+=]|[0-9]+[.)])")


def md_text(text: object) -> str:
    """Free text as inert Markdown on one line: every markup character escaped, so it shows as written."""
    escaped = _MD_SPECIAL.sub(r"\\\1", one_line(text).replace("&", "&amp;"))
    return _MD_LINE_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], escaped)


def md_cell(text: object) -> str:
    """Free text for a Markdown table cell."""
    return md_text(text)


def md_code(text: object) -> str:
    """A Markdown code span showing text exactly: its fence is longer than any backtick run inside it."""
    line = one_line(text) or " "
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") or line.startswith(" ") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


_MERMAID_PLAIN = frozenset(" .,_/:")


def mermaid_label(text: object) -> str:
    """Text for a quoted Mermaid label: everything but letters, digits and plain punctuation as a #code; entity."""
    return "".join(c if c.isalnum() or c in _MERMAID_PLAIN else f"#{ord(c)};" for c in one_line(text))


def yaml_document(data: Any, width: int = 120) -> str:
    """A YAML document of plain data, keys in their order; line-breaking characters in text always escaped.

    Written by libyaml's emitter where it gives the same bytes as PyYAML's (planforge.yamltext), else by PyYAML's.
    """
    from planforge.yamltext import dump_yaml

    return dump_yaml(data, width=width, literal_blocks=True)


FILTERS = {
    "comment": comment,
    "one_line": one_line,
    "js_str": js_str,
    "json_str": json_str,
    "md": md_text,
    "md_text": md_text,
    "cell": md_cell,
    "md_code": md_code,
    "mermaid": mermaid_label,
    "nginx_str": nginx_str,
    "py_doc": py_doc,
    "py_str": py_str,
    "sh_word": sh_word,
    "yaml_key": yaml_key,
    "yaml_str": yaml_str,
}
