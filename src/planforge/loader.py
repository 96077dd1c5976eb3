"""Load a manifest: YAML text to plain data plus the line and column of every key and value.

PyYAML's C composer gives every node its position at C speed; this module builds the data
from those nodes itself so it can apply YAML 1.2 scalar rules (``on``/``no`` stay strings),
refuse duplicate keys, unknown tags and alias bombs, and keep a position for every path.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planforge.diagnostics import Diagnostic, Severity
from planforge.errors import FindingsError, InputError
from planforge.eventload import Built, Unusual, build_from_events, values_from_events

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Document",
    "LoadError",
    "Positions",
    "ReadError",
    "load_manifest",
    "load_text",
    "node_limit",
    "read_manifest",
]

# Input limits. A 3,000-operation feature with four schemas an operation is about 6.5 MiB and 500,000 nodes.
MAX_BYTES = 16 * 1024 * 1024
# Nodes a document may expand to: this many, or one per NODE_BYTES bytes of text for larger files. Manifests
# take about 13 bytes a node, so only aliases (an alias bomb) or a very dense flow list come near it.
MAX_NODES = 200_000
NODE_BYTES = 4
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STD = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_STD}{t}" for t in ("null", "bool", "int", "float", "str", "timestamp", "value")}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOW_HINT = (
    "a {...} or [...] is not closed, or a plain value inside one holds ': ', '{', '[' or ' #': quote that value"
)
# The first characters a null, bool, int or float can start with: anything else is a string.
_NOT_ONLY_TEXT = frozenset("~nNtTfF+-.0123456789")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


class Positions:
    """Where each path of the document starts: the value, and for mapping entries the key.

    A manifest that loads without a problem is located on first use (Positions.deferred): most runs
    report nothing, and reading positions costs as much again as reading the values.
    """

    def __init__(
        self, values: dict[JsonPath, tuple[int, int]] | None = None, keys: dict[JsonPath, tuple[int, int]] | None = None
    ) -> None:
        self._values = values if values is not None else {}
        self._keys = keys if keys is not None else {}
        self._locate: Callable[[], tuple[dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]]]] | None
        self._locate = None

    @classmethod
    def deferred(
        cls, locate: Callable[[], tuple[dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]]]]
    ) -> Positions:
        """Positions that locate calls for when they are first read."""
        positions = cls()
        positions._locate = locate
        return positions

    @property
    def values(self) -> dict[JsonPath, tuple[int, int]]:
        """Where the value at each path starts."""
        self._located()
        return self._values

    @property
    def keys(self) -> dict[JsonPath, tuple[int, int]]:
        """Where the key that names each mapping entry starts."""
        self._located()
        return self._keys

    def of(self, path: JsonPath) -> tuple[int, int]:
        """Position of the value at path, or of its nearest located ancestor."""
        values = self.values
        for depth in range(len(path), -1, -1):
            found = values.get(path[:depth])
            if found:
                return found
        return (1, 1)

    def of_key(self, path: JsonPath) -> tuple[int, int]:
        """Position of the key that names path (falls back to the value)."""
        return self.keys.get(path) or self.of(path)

    def _located(self) -> None:
        if self._locate is not None:
            self._values, self._keys = self._locate()
            self._locate = None


@dataclass(frozen=True)
class Document:
    """A loaded manifest: its display path, its plain data and where everything is."""

    path: str
    data: dict[str, Any]
    positions: Positions

    def diagnostic(
        self,
        code: str,
        path: JsonPath,
        message: str,
        *,
        hint: str = "",
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        """A diagnostic located at the value (or the key) of path."""
        line, col = self.positions.of_key(path) if key else self.positions.of(path)
        return Diagnostic(code, severity, self.path, line, col, message, hint)


class LoadError(FindingsError):
    """The file was read but is not a manifest planforge can load (exit 1); carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].text() if diagnostics else "load failed")
        self.diagnostics = diagnostics


class ReadError(InputError):
    """The file could not be read at all (exit 2); carries the diagnostic that says why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].text() if diagnostics else "read failed")
        self.diagnostics = diagnostics


def load_manifest(path: Path, display: str | None = None) -> Document:
    """Read and load a manifest file; raises ReadError or LoadError with located diagnostics."""
    shown = display or str(path)
    return load_text(read_manifest(path, shown), shown)


def read_manifest(path: Path, shown: str) -> bytes:
    """The bytes of a manifest file (at most MAX_BYTES); raises ReadError or LoadError with located diagnostics."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ReadError([_at(shown, 0, 0, "PF001", f"cannot read the manifest: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise LoadError([_at(shown, 0, 0, "PF002", f"the manifest is larger than {MAX_BYTES // 1024 // 1024} MiB")])
    return raw


def load_text(raw: bytes, shown: str) -> Document:
    """Load manifest bytes; raises LoadError with located diagnostics."""
    text = _decode(raw, shown)
    if not text.strip() or all(line.lstrip().startswith("#") or not line.strip() for line in text.splitlines()):
        raise LoadError([_at(shown, 1, 1, "PF005", "the manifest is empty", "start with 'planforge: 1'")])
    limit = node_limit(len(raw))
    with _collection_paused():
        plain = _values_only(text, shown, limit)
        if plain is not None:
            return Document(shown, plain, Positions.deferred(lambda: _positions(text, shown, limit)))
        built = _positioned(text, shown, limit)
    data, root, values, keys, problems = built
    if data is None:
        raise LoadError([_at(shown, 1, 1, "PF005", "the manifest is empty", "start with 'planforge: 1'")])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise LoadError(
            [
                _at(
                    shown,
                    *root,
                    "PF006",
                    f"the manifest must be a mapping, not {kind}",
                    "start with 'planforge: 1' and the feature's sections as keys",
                )
            ]
        )
    if problems:
        raise LoadError(problems)
    return Document(shown, data, Positions(values, keys))


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while building: the data has no cycles, and collections
    triggered by the many new containers of a large manifest used to take most of the loading time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def node_limit(size: int) -> int:
    """How many nodes a manifest of size bytes may expand to (PF007 past that)."""
    return max(MAX_NODES, size // NODE_BYTES)


def _values_only(text: str, shown: str, limit: int) -> dict[str, Any] | None:
    """The data of a manifest that loads without a problem, or None when it needs the positioned path."""
    loader = _Loader(text)
    try:
        with _yaml_errors(shown):
            return values_from_events(loader, _resolve_plain, limit, MAX_DEPTH)
    except Unusual:
        return None
    finally:
        loader.dispose()


def _positioned(text: str, shown: str, limit: int) -> Built:
    """Data, positions and problems: the event path, or the node path for what the event path leaves to it."""
    built = _from_events(text, shown, limit)
    return built if built is not None else _from_nodes(text, shown, limit)


def _positions(
    text: str, shown: str, limit: int
) -> tuple[dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]]]:
    """The positions of a manifest that loaded without a problem, read again."""
    with _collection_paused():
        _data, _root, values, keys, _problems = _positioned(text, shown, limit)
    return values, keys


def _from_events(text: str, shown: str, limit: int) -> Built | None:
    """The fast path (planforge.eventload), or None when the document needs the node path."""
    loader = _Loader(text)
    try:
        with _yaml_errors(shown):
            built = build_from_events(loader, shown, _resolve_plain, limit, MAX_DEPTH)
    except Unusual:
        return None
    finally:
        loader.dispose()
    if built is None:
        raise LoadError([_at(shown, 1, 1, "PF005", "the manifest is empty", "start with 'planforge: 1'")])
    return built


def _from_nodes(text: str, shown: str, limit: int) -> Built:
    root = _compose(text, shown)
    builder = _Builder(shown, limit)
    data = builder.build(root, ())
    return data, _mark(root), builder.values, builder.keys, builder.problems


def _decode(raw: bytes, shown: str) -> str:
    if b"\x00" in raw:
        raise LoadError([_at(shown, 1, 1, "PF001", "the manifest is a binary file, not YAML text")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError([_at(shown, line, 1, "PF001", "the manifest is not UTF-8 text")]) from None
    bad = re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise LoadError([_at(shown, line, 1, "PF001", f"control character {bad.group()!r} in the manifest")])
    return text


def _compose(text: str, shown: str) -> yaml.Node:
    loader = _Loader(text)
    try:
        with _yaml_errors(shown):
            root = loader.get_single_node()
    finally:
        loader.dispose()
    if root is None:
        raise LoadError([_at(shown, 1, 1, "PF005", "the manifest is empty", "start with 'planforge: 1'")])
    node: yaml.Node = root
    return node


@contextmanager
def _yaml_errors(shown: str) -> Iterator[None]:
    """PyYAML's errors as located diagnostics (PF003 syntax, PF008 several documents)."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        if "but found another document" in str(exc):
            raise LoadError(
                [
                    _at(
                        shown,
                        line,
                        col,
                        "PF008",
                        "the manifest holds more than one YAML document",
                        "keep one feature per file, without '---' separators",
                    )
                ]
            ) from None
        hint = _FLOW_HINT if "did not find expected ','" in problem else ""
        raise LoadError([_at(shown, line, col, "PF003", f"YAML syntax error: {problem}", hint)]) from None
    except yaml.YAMLError as exc:
        raise LoadError([_at(shown, 1, 1, "PF003", f"YAML syntax error: {exc}")]) from None


class _Builder:
    """Turns composed nodes into plain data, recording positions and collecting problems."""

    def __init__(self, shown: str, limit: int) -> None:
        self.shown = shown
        self.limit = limit
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.problems: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > self.limit:
            self._stop(node, "PF007", f"the manifest expands to more than {self.limit} nodes (an alias bomb?)")
        if len(path) > MAX_DEPTH or id(node) in self.active:
            self._stop(node, "PF007", "the manifest nests too deeply or refers to itself through an alias")
        self.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, f"{_STD}seq")
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            self._check_tag(node, f"{_STD}map")
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, tuple[int, int]] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_STD}merge":
                merged.update(self._merge(value_node, path))
                continue
            key = self._key(key_node)
            if key is None:
                continue
            line, col = _mark(key_node)
            if key in seen:
                first = seen[key]
                self.problems.append(
                    _at(self.shown, line, col, "PF004", f"duplicate key '{key}'", f"first defined at line {first[0]}")
                )
                continue
            seen[key] = (line, col)
            self.keys[(*path, key)] = (line, col)
            result[key] = self.build(value_node, (*path, key))
        return {**{k: v for k, v in merged.items() if k not in result}, **result}

    def _merge(self, node: yaml.Node, path: JsonPath) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self.problems.append(_at(self.shown, *_mark(source), "PF009", "'<<' merges only mappings"))
                continue
            merged.update(self._mapping(source, path))
        return merged

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append(_at(self.shown, *_mark(node), "PF009", "mapping keys must be plain scalars"))
            return None
        value = self._scalar(node)
        if value is None or isinstance(value, bool | float):
            self.problems.append(
                _at(self.shown, *_mark(node), "PF009", f"key {node.value!r} must be a name or a number")
            )
            return None
        return str(value)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag not in _PLAIN_TAGS:
            self._check_tag(node, f"{_STD}str")
            return node.value
        if node.style:
            return node.value
        return _resolve_plain(node.value)

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self.problems.append(
                _at(
                    self.shown,
                    *_mark(node),
                    "PF009",
                    f"unsupported YAML tag '{node.tag}'",
                    "planforge manifests use plain YAML without tags",
                )
            )

    def _stop(self, node: yaml.Node, code: str, message: str) -> None:
        raise LoadError([_at(self.shown, *_mark(node), code, message)])


def _resolve_plain(value: str) -> Any:
    """YAML 1.2 core schema for plain scalars: null, bool, int, float, else the string itself."""
    if value and value[0] not in _NOT_ONLY_TEXT:
        return value
    if _NULL.match(value):
        return None
    if _TRUE.match(value):
        return True
    if _FALSE.match(value):
        return False
    if _INT.match(value):
        return int(value, 10)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    return value


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _at(shown: str, line: int, col: int, code: str, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, shown, line, col, message, hint)
