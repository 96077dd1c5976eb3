"""YAML text of generated documents: libyaml's emitter where it writes the same bytes as PyYAML's, else PyYAML's.

The C emitter (yaml.CSafeDumper) is several times faster, but differs from the pure-Python one on some
input: a document that is a single scalar, characters outside the Basic Multilingual Plane, NEL, line and
paragraph separators, carriage returns and other controls, empty, long or multi-line mapping keys, and
multi-line text that cannot be written as a plain literal block. Documents with any of these are written by
the pure-Python emitter, so output bytes never depend on which emitter ran (tests/test_speedups.py).

dump_yaml_all writes a stream of documents (Kubernetes manifests): no anchors, and multi-line text as a
literal block only where the block keeps it exactly, the same choice whichever emitter runs.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import yaml

from planforge.frozen import FrozenDict, FrozenList
from planforge.yamlnodes import node_tree, remembered_resolve

__all__ = ["dump_yaml", "dump_yaml_all"]

_FAST: type[yaml.SafeDumper] | None = getattr(yaml, "CSafeDumper", None)
# Characters on which the two emitters are known to agree (with allow_unicode): printable BMP text.
_RISKY = re.compile("[^\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
# Multi-line text both write as the same literal block: no line starts or ends with a space, no blank tail.
_BLOCK = re.compile(r"[^ \n](?:[^\n]*[^ \n])?(?:\n(?:[^ \n](?:[^\n]*[^ \n])?)?)*\n?")
_MAX_KEY = 100
# Printable ASCII is never invisible: only the other characters are looked up.
_NOT_PRINTABLE_OR_NEWLINE = re.compile("[^\n\x20-\x7e]")
_BREAKING = re.compile("[\r\x85\u2028\u2029]")


def dump_yaml(data: Any, *, width: int, literal_blocks: bool = False) -> str:
    """The YAML text of data: keys in insertion order, unicode as is, lines folded at width.

    literal_blocks writes every multi-line string as a literal block (`|`), so it reads as written.
    """
    fast = _FAST is not None and isinstance(data, dict | list) and _agreed(data)
    style = _literal_style if literal_blocks else _plain_style
    return _dump(_dumper(fast, literal_blocks), [data], width, style, aliases=True)


def dump_yaml_all(documents: list[dict[str, Any]], *, width: int) -> str:
    """Documents separated by '---', keys in insertion order, unicode as is, lines folded at width, no anchors.

    Multi-line text is a literal block (`|`) when no line ends with a space and it has no tab or carriage
    return (a block keeps such text exactly); other text is written as PyYAML chooses.
    """
    fast = _FAST is not None and all(_agreed(document, exact=True) for document in documents)
    return _dump(_EXACT_DUMPERS[fast], documents, width, _exact_style, aliases=False)


def _dump(
    dumper_class: type[yaml.SafeDumper],
    documents: list[Any],
    width: int,
    str_style: Callable[[str], str | None],
    *,
    aliases: bool,
) -> str:
    """What yaml.dump_all writes with dumper_class (block style, keys unsorted, unicode as is), the nodes
    built by planforge.yamlnodes where it can (str_style: the style dumper_class's str representer gives)."""
    stream = io.StringIO()
    dumper = dumper_class(stream, default_flow_style=False, width=width, allow_unicode=True, sort_keys=False)
    try:
        dumper.open()
        for data in documents:
            node = node_tree(data, dumper, str_style, aliases)
            if node is None:
                dumper.represent(data)
            else:
                dumper.serialize(node)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()


def literal_keeps(value: str) -> bool:
    """A literal block keeps the text exactly only without trailing spaces on a line and without tabs or CR."""
    return not any(line.endswith(" ") for line in value.split("\n")) and "\t" not in value and "\r" not in value


def _agreed(node: Any, key: bool = False, exact: bool = False) -> bool:
    """True when both emitters write node identically (conservative: False when unsure)."""
    if isinstance(node, str):
        if _RISKY.search(node):
            return False
        if key:
            return 0 < len(node) <= _MAX_KEY and "\n" not in node
        if "\n" not in node:
            return True
        if exact:  # a literal block (where it keeps the text): both agree unless it starts blank or indented
            return literal_keeps(node) and node[0] not in " \n" and not node.endswith("\n\n")
        return not node.endswith("\n\n") and _BLOCK.fullmatch(node) is not None
    if isinstance(node, dict):
        return all(_agreed(k, True) and _agreed(v, exact=exact) for k, v in node.items())
    if isinstance(node, list | tuple):
        return all(_agreed(item, exact=exact) for item in node)
    return node is None or isinstance(node, bool | int | float)


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Multi-line text as a literal block; text with any other line-breaking or invisible character double-quoted,
    so its escapes show (a raw U+2028 would end a line for YAML 1.1 parsers)."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=_literal_style(value))


def _literal_style(value: str) -> str | None:
    if _NOT_PRINTABLE_OR_NEWLINE.search(value) is not None and (
        _BREAKING.search(value) or any(map(_invisible, _NOT_PRINTABLE_OR_NEWLINE.findall(value)))
    ):
        return '"'
    return "|" if "\n" in value else None


def _plain_style(value: str) -> None:  # noqa: ARG001 (PyYAML's str representer: the emitter chooses)
    return None


def _literal_where_exact(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=_exact_style(value))


def _exact_style(value: str) -> str | None:
    return "|" if "\n" in value and literal_keeps(value) else None


def _without_aliases(self: yaml.SafeDumper, data: Any) -> bool:  # noqa: ARG001 (PyYAML's signature)
    return True


def _invisible(char: str) -> bool:
    """Control, format, separator, surrogate, private and unassigned code points."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _dumper_class(base: type[yaml.SafeDumper], literal_blocks: bool) -> type[yaml.SafeDumper]:
    dumper: type[yaml.SafeDumper] = type(f"_{base.__name__}", (base,), {"resolve": remembered_resolve})
    dumper.add_representer(FrozenDict, yaml.SafeDumper.represent_dict)
    dumper.add_representer(FrozenList, yaml.SafeDumper.represent_list)
    if literal_blocks:
        dumper.add_representer(str, _literal)
    return dumper


_DUMPERS = {
    (fast, literal): _dumper_class(_FAST if fast and _FAST is not None else yaml.SafeDumper, literal)
    for fast in (False, True)
    for literal in (False, True)
}


def _dumper(fast: bool, literal_blocks: bool) -> type[yaml.SafeDumper]:
    return _DUMPERS[(fast, literal_blocks)]


def _exact_dumper_class(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    methods = {"ignore_aliases": _without_aliases, "resolve": remembered_resolve}
    dumper: type[yaml.SafeDumper] = type(f"_Exact{base.__name__}", (base,), methods)
    dumper.add_representer(str, _literal_where_exact)
    return dumper


_EXACT_DUMPERS = {
    fast: _exact_dumper_class(_FAST if fast and _FAST is not None else yaml.SafeDumper) for fast in (False, True)
}
