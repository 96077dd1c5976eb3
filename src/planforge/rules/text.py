"""PF711: no text of the manifest may carry markup or template syntax into generated files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.rules.manifest import Manifest, describe

__all__ = ["check"]

# Jinja openers, an HTML script tag, a Markdown fence and the end of an HTML comment.
_MARKERS = ("{{", "{%", "{#", "<script", "```", "-->")


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Every string of the manifest, keys included, free of template and markup syntax."""
    # One search over all the text first: the walk that locates each finding runs only when there is one.
    # "\0" is in no marker, so no marker spans two strings; lower() changes no character across a boundary.
    joined = "\0".join(_texts(m.data)).lower()
    if any(marker in joined for marker in _MARKERS):
        yield from _strings(m, m.data, ())


def _texts(root: Any) -> list[str]:
    """Every string of a JSON value, keys included (in no particular order)."""
    found: list[str] = []
    pending = [root]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _strings(m: Manifest, value: Any, path: JsonPath) -> Iterator[Diagnostic]:
    if isinstance(value, str):
        yield from _marker(m, value, path, key=False)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _marker(m, name, (*path, name), key=True)
            yield from _strings(m, item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(m, item, (*path, index))


def _marker(m: Manifest, text: str, path: JsonPath, *, key: bool) -> Iterator[Diagnostic]:
    found = next((marker for marker in _MARKERS if marker in text.lower()), None)
    if found:
        what = f"key '{path[-1]}' of {describe(path[:-1])}" if key else describe(path)
        yield m.error(
            "PF711",
            path,
            f"{what} contains '{found}', which could inject markup or template syntax into generated files",
            "rephrase the text without it",
            key=key,
        )
