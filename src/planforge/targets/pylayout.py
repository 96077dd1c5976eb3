"""Python source laid out exactly as ruff format lays it out, so generated modules need no formatter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planforge.escape import py_str

__all__ = [
    "WIDTH",
    "Seq",
    "assignment",
    "code",
    "flat",
    "import_block",
    "kw",
    "layout",
    "literal",
    "number",
    "py_str",
    "split_unions",
    "tuple_of",
]

WIDTH = 88


@dataclass(frozen=True)
class Seq:
    """A bracketed Python expression: flat when it fits, else one item a line with a magic trailing comma."""

    head: str
    items: tuple[Seq | str, ...]
    brackets: str = "()"
    tail: str = ""
    is_tuple: bool = False


def flat(node: Seq | str) -> str:
    """The node on one line."""
    if isinstance(node, str):
        return node
    inner = ", ".join(flat(i) for i in node.items) + ("," if node.is_tuple and len(node.items) == 1 else "")
    return f"{node.head}{node.brackets[0]}{inner}{node.brackets[1]}{node.tail}"


def layout(node: Seq | str, indent: int = 0, end: str = "") -> list[str]:
    """Lines of node at indent, as ruff format lays them out (end follows the last bracket, e.g. ',')."""
    pad = " " * indent
    one_line = pad + flat(node) + end
    if isinstance(node, str) or len(one_line) <= WIDTH or not node.items:
        return [one_line]
    lines = [f"{pad}{node.head}{node.brackets[0]}"]
    for item in node.items:
        lines.extend(layout(item, indent + 4, ","))
    lines.append(f"{pad}{node.brackets[1]}{node.tail}{end}")
    return lines


def code(node: Seq | str, indent: int = 0) -> str:
    """layout() joined into text."""
    return "\n".join(layout(node, indent))


def kw(name: str, value: Seq | str) -> Seq | str:
    """A keyword argument name=value."""
    if isinstance(value, str):
        return f"{name}={value}"
    return Seq(f"{name}={value.head}", value.items, value.brackets, value.tail, value.is_tuple)


def tuple_of(items: list[Seq | str]) -> Seq | str:
    """A tuple expression of items (a one-item tuple keeps its comma)."""
    return Seq("", tuple(items), is_tuple=True) if items else "()"


def _import_key(name: str) -> tuple[int, str]:
    """The isort order-by-type: CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def _imports(lines: set[str]) -> list[str]:
    """from-import lines merged per module, sorted, long ones wrapped."""
    modules: dict[str, set[str]] = {}
    for line in lines:
        module, listed = line.removeprefix("from ").split(" import ")
        modules.setdefault(module, set()).update(n.strip() for n in listed.split(","))
    result = []
    for module in sorted(modules, key=lambda m: (m.startswith("."), m)):
        names = sorted(modules[module], key=_import_key)
        line = f"from {module} import {', '.join(names)}"
        result.append(line if len(line) <= WIDTH else code(Seq(f"from {module} import ", tuple(names))))
    return result


def import_block(stdlib: set[str], third_party: set[str], local: set[str]) -> str:
    """The import section: stdlib, third-party and local groups, each sorted as isort sorts them."""
    groups = [_imports(group) for group in (stdlib, third_party, local) if group]
    return "\n\n".join("\n".join(group) for group in groups)


def literal(value: Any) -> Seq | str:
    """A JSON value as a Python literal expression (dicts, lists, strings, numbers, booleans, None)."""
    if isinstance(value, dict):
        items = tuple(_entry(py_str(str(k)) + ": ", literal(v)) for k, v in value.items())
        return Seq("", items, "{}")
    if isinstance(value, list | tuple):
        return Seq("", tuple(literal(v) for v in value), "[]")
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, float):
        return number(value)
    return repr(value)


def number(value: float) -> str:
    """A float literal as ruff format writes it: 1e20 (repr's 1e+20 loses its plus sign)."""
    return repr(value).replace("e+", "e")


def _entry(prefix: str, value: Seq | str) -> Seq | str:
    if isinstance(value, str):
        return prefix + value
    return Seq(prefix + value.head, value.items, value.brackets, value.tail, value.is_tuple)


def assignment(target: str, value: Any) -> str:
    """`target = <value as a literal>`, laid out."""
    node = literal(value)
    if isinstance(node, str):
        return f"{target} = {node}"
    return code(Seq(f"{target} = {node.head}", node.items, node.brackets))


def split_unions(text: str) -> str:
    """Lines too long that hold a union (an item of a bracket) split before each top-level `|`, as ruff does."""
    lines = []
    for line in text.split("\n"):
        parts = _top_level_union(line.strip().removesuffix(",")) if len(line) > WIDTH else []
        if len(parts) < 2:
            lines.append(line)
            continue
        pad = line[: len(line) - len(line.lstrip())]
        comma = "," if line.endswith(",") else ""
        lines.extend([pad + parts[0], *(f"{pad}| {part}" for part in parts[1:-1]), f"{pad}| {parts[-1]}{comma}"])
    return "\n".join(lines)


def _top_level_union(text: str) -> list[str]:
    """The members of a union annotation split at its top-level ` | ` (string literals and brackets kept whole)."""
    parts, depth, start, index, quote = [], 0, 0, 0, ""
    while index < len(text):
        char = text[index]
        if quote:
            index += 2 if char == "\\" else 1
            quote = "" if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(" | ", index):
            parts.append(text[start:index])
            start = index + 3
            index += 2
        index += 1
    return [*parts, text[start:]] if parts else []
