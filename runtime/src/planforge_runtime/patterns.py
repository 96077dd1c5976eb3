"""Strings that match a regular expression, deterministic per seed: the `pattern` keyword of the sampler.

The pattern is parsed with Python's own regex parser and walked: literals, classes (`[a-z]`, `\\d`, `\\w`, `\\s`,
negated ones), `.`, groups, alternation, anchors and repetition. Repetitions start at their minimum and grow until
the string is long enough. Lookarounds and back-references are not supported (PatternError).
"""

from __future__ import annotations

import random
import re
import string
import zlib
from re import _parser as sre_parse  # type: ignore[attr-defined]  # Python's own regex parser (3.11+)
from typing import Any

__all__ = ["PatternError", "matching"]

_PRINTABLE = string.ascii_letters + string.digits + "-_."
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters + "-_",
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": "-. ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": _PRINTABLE,
}
_UNBOUNDED_EXTRA = 8
_ATTEMPTS = 24


class PatternError(ValueError):
    """The pattern uses a construct the generator does not handle, or no string in the bounds matches it."""


def matching(pattern: str, low: int, high: int, seed: str) -> str:
    """A string that re.search(pattern) matches, of length low..high, chosen by seed."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise PatternError(f"invalid pattern {pattern!r}: {exc}") from None
    # Test data, not secrets: a seeded generator makes the same sample on every run.
    chooser = random.Random(zlib.crc32(seed.encode()))  # nosec B311
    for extra in range(_ATTEMPTS):
        text = _Walker(chooser, extra).sequence(parsed)
        if low <= len(text) <= high and re.search(pattern, text):
            return text
    raise PatternError(f"no string of length {low}..{high} matching {pattern!r} was found")


class _Walker:
    """Turns a parsed pattern into one string; extra is how far repetitions grow past their minimum."""

    def __init__(self, chooser: random.Random, extra: int) -> None:
        self.chooser, self.extra = chooser, extra

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, value) for op, value in items)

    def item(self, op: Any, value: Any) -> str:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            return self.repeat(*value)
        if name in ("SUBPATTERN", "ATOMIC_GROUP"):
            return self.sequence(value[-1] if name == "SUBPATTERN" else value)
        if name == "BRANCH":
            return self.sequence(self.chooser.choice(value[1]))
        return self.character(name, value)

    def character(self, name: str, value: Any) -> str:
        """One character (or none, for an anchor)."""
        if name == "LITERAL":
            return chr(value)
        if name == "NOT_LITERAL":
            return next(c for c in _PRINTABLE if ord(c) != value)
        if name == "ANY":
            return self.chooser.choice(string.ascii_letters)
        if name == "IN":
            return self.chooser.choice(_class(value))
        if name == "CATEGORY":
            return self.chooser.choice(_CATEGORIES.get(str(value), _PRINTABLE))
        if name == "AT":
            return ""
        raise PatternError(f"patterns with {name} are not supported")

    def repeat(self, low: int, high: Any, items: Any) -> str:
        top = low + _UNBOUNDED_EXTRA if high is sre_parse.MAXREPEAT else int(high)
        count = min(top, low + self.extra)
        return "".join(self.sequence(items) for _ in range(count))


def _class(items: Any) -> str:
    """The characters a [...] class allows (from printable ASCII, for negated classes)."""
    chars: set[str] = set()
    negate = False
    for op, value in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.add(chr(value))
        elif name == "RANGE":
            chars.update(chr(c) for c in range(value[0], value[1] + 1))
        elif name == "CATEGORY":
            chars.update(_CATEGORIES.get(str(value), ""))
    if negate:
        chars = {c for c in _PRINTABLE + " " if c not in chars}
    if not chars:
        raise PatternError("a character class that allows nothing")
    return "".join(sorted(chars))
