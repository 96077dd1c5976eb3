"""Python source laid out exactly as ruff format lays it out, so generated modules need no formatter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planforge.escape import py_str

__all__ = [
    "WIDTH",
    "Seq",
    "Union",
    "annotation",
    "assignment",
    "code",
    "flat",
    "import_block",
    "kw",
    "layout",
    "literal",
    "number",
    "py_str",
    "tuple_of",
]

WIDTH = 88


@dataclass(frozen=True)
class Seq:
    """A bracketed Python expression: flat when it fits, else one item a line with a magic trailing comma."""

    head: str
    items: tuple[Seq | Union | str, ...]
    brackets: str = "()"
    tail: str = ""
    is_tuple: bool = False


@dataclass(frozen=True)
class Union:
    """A union annotation: flat when it fits, else one member a line from the second on led by `| `."""

    members: tuple[Seq | Union | str, ...]


def flat(node: Seq | Union | str) -> str:
    """The node on one line."""
    return _flat(node, {})


def _flat(node: Seq | Union | str, flats: dict[int, str]) -> str:
    """flat(), remembering each node's text by identity (layout asks for every level's, children again)."""
    if isinstance(node, str):
        return node
    found = flats.get(id(node))
    if found is None:
        if isinstance(node, Union):
            found = " | ".join([_flat(m, flats) for m in node.members])
        else:
            inner = ", ".join([_flat(i, flats) for i in node.items])
            if node.is_tuple and len(node.items) == 1:
                inner += ","
            found = f"{node.head}{node.brackets[0]}{inner}{node.brackets[1]}{node.tail}"
        flats[id(node)] = found
    return found


def layout(node: Seq | Union | str, indent: int = 0, end: str = "") -> list[str]:
    """Lines of node at indent, as ruff format lays them out (end follows the last bracket, e.g. ',')."""
    lines: list[str] = []
    _layout(node, indent, end, {}, lines)
    return lines


def _layout(node: Seq | Union | str, indent: int, end: str, flats: dict[int, str], lines: list[str]) -> None:
    """Append node's lines; each node's one-line text is built once (flats) however deep the tree."""
    pad = " " * indent
    one_line = pad + _flat(node, flats) + end
    if isinstance(node, str) or len(one_line) <= WIDTH:
        lines.append(one_line)
        return
    if isinstance(node, Union):
        for number, member in enumerate(node.members):
            last = number == len(node.members) - 1
            member_lines: list[str] = []
            _layout(member, indent, end if last else "", flats, member_lines)
            lead = "" if number == 0 else "| "
            lines.extend([pad + lead + member_lines[0][indent:], *member_lines[1:]])
        return
    if not node.items:
        lines.append(one_line)
        return
    # A subscript of one item takes no comma after it: `list[x,]` would be a tuple.
    subscript = node.brackets == "[]" and (node.head[-1:].isalnum() or node.head.endswith("_"))
    comma = "" if subscript and len(node.items) == 1 else ","
    lines.append(f"{pad}{node.head}{node.brackets[0]}")
    for item in node.items:
        _layout(item, indent + 4, comma, flats, lines)
    lines.append(f"{pad}{node.brackets[1]}{node.tail}{end}")


def annotation(text: str) -> Seq | Union | str:
    """An annotation's text (as the model emitter writes it) as a tree to lay out: its unions and brackets."""
    node, _ = _expression(text, 0)
    return node


def _expression(text: str, index: int) -> tuple[Seq | Union | str, int]:
    """The expression at index (up to a top-level ',' or closing bracket) and the index after it."""
    members: list[Seq | Union | str] = []
    while True:
        start = index
        while index < len(text) and text[index] not in ",|)]([":
            index = _string_end(text, index) if text[index] in "\"'" else index + 1
        if index < len(text) and text[index] in "([":
            head = text[start:index].strip()
            items, index = _items(text, index + 1, "]" if text[index] == "[" else ")")
            brackets = "[]" if text[index - 1] == "]" else "()"
            members.append(Seq(head, tuple(items), brackets))
        else:
            members.append(text[start:index].strip())
        while index < len(text) and text[index] == " ":
            index += 1
        if index < len(text) and text[index] == "|":
            index += 1
            continue
        break
    return (members[0] if len(members) == 1 else Union(tuple(members))), index


def _items(text: str, index: int, close: str) -> tuple[list[Seq | Union | str], int]:
    items: list[Seq | Union | str] = []
    while index < len(text) and text[index] != close:
        item, index = _expression(text, index)
        items.append(item)
        if index < len(text) and text[index] == ",":
            index += 1
    return items, index + 1


def _string_end(text: str, index: int) -> int:
    """The index after the string literal starting at index (escapes skipped)."""
    quote, index = text[index], index + 1
    while index < len(text) and text[index] != quote:
        index += 2 if text[index] == "\\" else 1
    return index + 1


def code(node: Seq | Union | str, indent: int = 0) -> str:
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
