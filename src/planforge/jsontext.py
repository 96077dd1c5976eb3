"""Indented JSON text as json.dumps(indent=N, ensure_ascii=False) writes it, several times faster.

Python's C encoder does not indent, so json.dumps with an indent runs the pure-Python encoder, a generator
per container yielding every piece. This writer keeps the C parts (string escaping, number text) and builds
the same text with one list of pieces; anything it does not know (another type, a key json.dumps would
convert or refuse) is left to json.dumps itself (tests/test_speedups.py compares the two on any JSON).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

__all__ = ["indented_json"]

_FLOAT_WORDS = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


class _Elsewhere(Exception):
    """A value json.dumps writes in a way this module leaves to it."""


def indented_json(value: Any, indent: int, *, sort_keys: bool = False) -> str:
    """json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)."""
    parts: list[str] = []
    try:
        _write(value, parts, "\n", " " * indent, sort_keys)
    except (_Elsewhere, RecursionError):  # json.dumps says what is wrong with a cycle
        return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
    return "".join(parts)


def _write(value: Any, parts: list[str], newline: str, step: str, sort_keys: bool) -> None:
    """Append value's text; newline is the line break and indent of value's own level."""
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + step
        parts.append("{")
        separator = inner
        for key, item in sorted(value.items()) if sort_keys else value.items():
            if not isinstance(key, str):
                raise _Elsewhere  # json.dumps turns numbers, booleans and None into key text (or refuses)
            parts.append(separator)
            parts.append(encode_basestring(key))
            parts.append(": ")
            _write(item, parts, inner, step, sort_keys)
            separator = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        inner = newline + step
        parts.append("[")
        separator = inner
        for item in value:
            parts.append(separator)
            _write(item, parts, inner, step, sort_keys)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        parts.append(_scalar(value))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return _FLOAT_WORDS.get(value) or float.__repr__(value)
    raise _Elsewhere
