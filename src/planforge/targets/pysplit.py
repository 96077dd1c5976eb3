"""The part of a generated models module that some of its classes need: those classes, what they refer to,
and the imports they use, laid out as the module was (ruff format's layout)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from planforge.targets.pylayout import WIDTH, Seq, code

__all__ = ["Module", "parse_module"]


@dataclass(frozen=True)
class Statement:
    """A top-level statement after the imports: its text, the names it binds and the module names it uses."""

    text: str
    binds: frozenset[str]
    uses: frozenset[str]
    names: frozenset[str]


@dataclass(frozen=True)
class ImportLine:
    """`from module import names` and the import group (blank-line separated) it belongs to."""

    module: str
    names: tuple[str, ...]
    group: int


@dataclass(frozen=True)
class Module:
    """A parsed models module: its imports and its top-level statements in order."""

    imports: tuple[ImportLine, ...]
    statements: tuple[Statement, ...]

    def subset(self, header: str, roots: list[str]) -> str:
        """The module's source for the classes roots and what they need, under header (a docstring line)."""
        wanted = self._closure(roots)
        kept = [s for s in self.statements if s.binds & wanted or (not s.binds and s.uses and s.uses <= wanted)]
        body = ""
        for previous, statement in zip([None, *kept], kept, strict=False):
            if previous is not None:
                body += "\n" if not previous.binds and not statement.binds else "\n\n\n"
            body += statement.text
        head = header + "\n\n" + _imports(self.imports, _names_in(kept))
        return head + ("\n\n\n" + body if body else "") + "\n"

    def _closure(self, roots: list[str]) -> set[str]:
        uses = {name: s.uses for s in self.statements for name in s.binds}
        wanted: set[str] = set()
        pending = [name for name in roots if name in uses]
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(uses.get(name, ()))
        return wanted


def _names_in(statements: list[Statement]) -> set[str]:
    """Every name the statements load (imported ones included)."""
    return set().union(*(s.names for s in statements))


def _imports(imports: tuple[ImportLine, ...], used: set[str]) -> str:
    groups: dict[int, list[str]] = {}
    for line in imports:
        names = [n for n in line.names if n in used or line.module == "__future__"]
        if not names:
            continue
        text = f"from {line.module} import {', '.join(names)}"
        groups.setdefault(line.group, []).append(
            text if len(text) <= WIDTH else code(Seq(f"from {line.module} import ", tuple(names)))
        )
    return "\n\n".join("\n".join(lines) for _, lines in sorted(groups.items()))


def parse_module(source: str) -> Module:
    """Split a generated module (docstring, from-imports, then definitions) into its parts."""
    tree = ast.parse(source)
    lines = source.split("\n")
    imports: list[ImportLine] = []
    statements: list[Statement] = []
    group, last_line = 0, 0
    bound = {name for node in tree.body for name in _binds(node)}
    for node in tree.body:
        if isinstance(node, ast.Expr) and not imports and not statements and isinstance(node.value, ast.Constant):
            continue  # the module docstring: each service has its own
        if isinstance(node, ast.ImportFrom):
            if last_line and node.lineno > last_line + 1:
                group += 1
            last_line = node.end_lineno or node.lineno
            imports.append(ImportLine(node.module or "", tuple(a.name for a in node.names), group))
            continue
        if isinstance(node, ast.Import):
            raise ValueError("a plain import in a generated models module")
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        text = "\n".join(lines[start - 1 : node.end_lineno])
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        binds = _binds(node)
        statements.append(Statement(text, frozenset(binds), frozenset((names & bound) - binds), frozenset(names)))
    return Module(tuple(imports), tuple(statements))


def _binds(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.ClassDef | ast.FunctionDef):
        return {node.name}
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {t.id for t in targets if isinstance(t, ast.Name)}
    return set()
