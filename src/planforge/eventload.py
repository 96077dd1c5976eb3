"""The loader's fast path: manifest data built straight from the C parser's events, without a node tree.

Composing nodes and then walking them cost about two thirds of validating a large manifest. This path
reads each event once and builds the value, its position and the key positions in the same step. It
handles what manifests are made of (plain, quoted and block scalars, mappings, sequences) and reports
what the node path reports for them (duplicate keys, keys that are not names, syntax errors, several
documents). Anything rarer - an anchor, an alias, a tag, a merge key, a complex key, a document past
the size limits - raises Unusual, and the loader builds that document again through the node path, so
every diagnostic stays exactly as the node path gives it.

Positions are needed only when there is something to report, so the loader first builds the values
alone (values_from_events, about twice as fast again) and reads positions on first use. That path
gives up (Unusual) on anything the positioned path would report or treat specially, so what it accepts
is exactly what the positioned path builds, with no problem.
"""

from __future__ import annotations

from typing import Any

import yaml

from planforge.diagnostics import Diagnostic, Severity

__all__ = ["Built", "Unusual", "build_from_events", "values_from_events"]

JsonPath = tuple[str | int, ...]
Built = tuple[Any, tuple[int, int], dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]], list[Diagnostic]]

_Scalar = yaml.ScalarEvent
_MapStart, _MapEnd = yaml.MappingStartEvent, yaml.MappingEndEvent
_SeqStart, _SeqEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_Alias = yaml.AliasEvent
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


_KEY_OR_END = object()  # in a mapping, the next event is a key (or the mapping's end)
_NOT_A_NAME = (bool, float, type(None))


def values_from_events(parser: Any, resolve: Any, max_nodes: int, max_depth: int) -> dict[str, Any]:
    """The data of a single-document stream whose root is a mapping, without positions.

    Raises Unusual for anything else and for all the positioned path reports or treats specially
    (duplicate keys, keys that are not names, anchors, aliases, tags, merge keys, complex keys, the
    limits: stricter is fine, it only means the slow path runs), and yaml errors for broken syntax.
    One loop over the events with an explicit stack: this runs once per event of every load.
    """
    get = parser.get_event
    _open_root(get)
    root: dict[str, Any] = {}
    # Open containers with their pending key (None in a list); a container is at most max_depth - 1
    # deep, so nothing in it is deeper than max_depth.
    stack: list[Any] = []
    container: Any = root
    pending: Any = _KEY_OR_END
    for _ in range(max_nodes):  # every event counts against the node budget: stricter than the nodes
        event = get()
        kind = type(event)
        if kind is _Scalar:
            text = event.value
            if event.anchor is not None or event.tag is not None or (text == "<<" and not event.style):
                raise Unusual  # a plain '<<' is the merge tag for the node path
            if pending is _KEY_OR_END:
                pending = _new_key(text if event.style else resolve(text), text, container)
                continue
            value = text if event.style else resolve(text)
        elif kind is _MapEnd or kind is _SeqEnd:
            if not stack:
                _close_root(get)
                return root
            value = container
            container, pending = stack.pop()
        elif kind is _MapStart or kind is _SeqStart:
            if (
                pending is _KEY_OR_END
                or event.anchor is not None
                or event.tag is not None
                or len(stack) >= max_depth - 1
            ):
                raise Unusual  # a complex key, an anchor, a tag, or deep
            stack.append((container, pending))
            container, pending = ({}, _KEY_OR_END) if kind is _MapStart else ([], None)
            continue
        else:
            raise Unusual  # an alias
        if pending is None:
            container.append(value)
        else:
            container[pending] = value
            pending = _KEY_OR_END
    raise Unusual  # past the node budget


def _open_root(get: Any) -> None:
    """Consume the stream's start up to a root mapping's start (Unusual for any other root)."""
    get()  # StreamStartEvent
    if type(get()) is not yaml.DocumentStartEvent:
        raise Unusual  # no document
    event = get()
    if type(event) is not _MapStart or event.anchor is not None or event.tag is not None:
        raise Unusual


def _close_root(get: Any) -> None:
    """Consume the end of the document and the stream (Unusual when another document follows)."""
    if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
        raise Unusual


def _new_key(key: Any, text: str, mapping: dict[str, Any]) -> str:
    """A mapping key as the positioned path names it; Unusual for a merge, a non-name or a repeated key."""
    if text == "<<" or isinstance(key, _NOT_A_NAME):
        raise Unusual
    name = str(key)
    if name in mapping:
        raise Unusual
    return name


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
