"""The loader's fast path: manifest data built straight from the C parser's events, without a node tree.

Composing nodes and then walking them cost about two thirds of validating a large manifest. This path
reads each event once and builds the value, its position and the key positions in the same step. It
handles what manifests are made of (plain, quoted and block scalars, mappings, sequences) and reports
what the node path reports for them (duplicate keys, keys that are not names, syntax errors, several
documents). Anything rarer - an anchor, an alias, a tag, a merge key, a complex key, a document past
the size limits - raises Unusual, and the loader builds that document again through the node path, so
every diagnostic stays exactly as the node path gives it.
"""

from __future__ import annotations

from typing import Any

import yaml

from planforge.diagnostics import Diagnostic, Severity

__all__ = ["Built", "Unusual", "build_from_events"]

JsonPath = tuple[str | int, ...]
Built = tuple[Any, tuple[int, int], dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]], list[Diagnostic]]

_Scalar = yaml.ScalarEvent
_MapStart, _MapEnd = yaml.MappingStartEvent, yaml.MappingEndEvent
_SeqStart, _SeqEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_STARTS = (_MapStart, _SeqStart)
_ENDS = (_MapEnd, _SeqEnd)


class Unusual(Exception):
    """The document uses something the fast path leaves to the node path."""


def build_from_events(parser: Any, shown: str, resolve: Any, max_nodes: int, max_depth: int) -> Built | None:
    """(data, root position, value positions, key positions, problems), or None for a stream without a
    document. Raises yaml errors as the composer would (syntax, several documents) and Unusual."""
    get = parser.get_event
    get()  # StreamStartEvent
    event = get()
    if isinstance(event, yaml.StreamEndEvent):
        return None
    builder = _EventBuilder(get, shown, resolve, max_nodes, max_depth)
    first = get()
    root = (first.start_mark.line + 1, first.start_mark.column + 1)
    data = builder.value(first, ())
    get()  # DocumentEndEvent
    after = get()
    if not isinstance(after, yaml.StreamEndEvent):
        raise yaml.composer.ComposerError(
            "expected a single document in the stream", event.start_mark, "but found another document", after.start_mark
        )
    return data, root, builder.values, builder.keys, builder.problems


class _EventBuilder:
    """Builds values from events, recording positions and collecting the problems the node path reports."""

    def __init__(self, get: Any, shown: str, resolve: Any, max_nodes: int, max_depth: int) -> None:
        self.get = get
        self.shown = shown
        self.resolve = resolve
        self.budget = max_nodes
        self.max_depth = max_depth
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.problems: list[Diagnostic] = []

    def value(self, event: Any, path: JsonPath) -> Any:
        """The value that starts with event, at path (its events consumed)."""
        self.budget -= 1
        if self.budget < 0 or len(path) > self.max_depth or event.anchor is not None or event.tag is not None:
            raise Unusual
        mark = event.start_mark
        self.values[path] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if kind is _Scalar:
            if event.style:
                return event.value
            if event.value == "<<":
                raise Unusual
            return self.resolve(event.value)
        if kind is _MapStart:
            return self._mapping(path)
        if kind is _SeqStart:
            return self._sequence(path)
        raise Unusual  # an alias

    def _sequence(self, path: JsonPath) -> list[Any]:
        items: list[Any] = []
        get, value = self.get, self.value
        event = get()
        while type(event) is not _SeqEnd:
            items.append(value(event, (*path, len(items))))
            event = get()
        return items

    def _mapping(self, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, tuple[int, int]] = {}
        get = self.get
        event: Any = get()
        while type(event) is not _MapEnd:
            if type(event) is not _Scalar or event.anchor is not None:
                raise Unusual
            mark: Any = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            key = self._key(event, at)
            if key is None:
                self._skip()
            elif key in seen:
                message = f"duplicate key '{key}'"
                self._problem(at, "PF004", message, f"first defined at line {seen[key][0]}")
                self._skip()
            else:
                seen[key] = at
                keyed = (*path, key)
                self.keys[keyed] = at
                result[key] = self.value(get(), keyed)
            event = get()
        return result

    def _key(self, event: Any, at: tuple[int, int]) -> str | None:
        if event.tag is not None or event.value == "<<":
            raise Unusual
        key = event.value if event.style else self.resolve(event.value)
        if key is None or isinstance(key, bool | float):
            self._problem(at, "PF009", f"key {event.value!r} must be a name or a number")
            return None
        return str(key)

    def _skip(self) -> None:
        """Consume one value's events without building it (the value of a refused key)."""
        depth = 0
        while True:
            event = self.get()
            if isinstance(event, _STARTS):
                depth += 1
            elif isinstance(event, _ENDS):
                depth -= 1
            if depth == 0:
                return

    def _problem(self, at: tuple[int, int], code: str, message: str, hint: str = "") -> None:
        self.problems.append(Diagnostic(code, Severity.ERROR, self.shown, at[0], at[1], message, hint))
