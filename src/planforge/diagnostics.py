"""Diagnostics as data: every problem planforge finds, located and coded, printed like a compiler."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from difflib import get_close_matches
from enum import StrEnum

__all__ = [
    "Diagnostic",
    "Severity",
    "count_line",
    "did_you_mean",
    "format_diagnostics",
    "has_errors",
    "sort_diagnostics",
]


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop generation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, at a place in a file (line and column are 1-based; 0 means unknown)."""

    code: str
    severity: Severity
    path: str
    line: int
    col: int
    message: str
    hint: str = ""

    def text(self) -> str:
        """The compiler-style line: FILE:LINE:COL: severity CODE: message (hint)."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.path}:{self.line}:{self.col}: {self.severity.value} {self.code}: {self.message}{hint}"

    def github(self) -> str:
        """A GitHub Actions workflow command that annotates the manifest line."""
        kind = "error" if self.severity is Severity.ERROR else "warning"
        message = _github_escape(f"{self.code}: {self.message}" + (f" ({self.hint})" if self.hint else ""))
        return f"::{kind} file={self.path},line={self.line},col={self.col},title=planforge {self.code}::{message}"

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSON format."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by file, position, then code, dropping exact duplicates."""
    unique = set(diagnostics)
    return sorted(unique, key=lambda d: (d.path, d.line, d.col, d.code, d.message))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True when any diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def format_diagnostics(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    """Render the list as text (ending with a count line), json or github annotations; the same list in each."""
    if fmt == "json":
        return json.dumps([d.as_dict() for d in diagnostics], indent=2) + "\n"
    if fmt == "github":
        return "".join(d.github() + "\n" for d in diagnostics)
    return "".join(d.text() + "\n" for d in diagnostics) + count_line(diagnostics) + "\n"


def count_line(diagnostics: Sequence[Diagnostic]) -> str:
    """How many errors and warnings there are, as a compiler says it: '2 errors, 1 warning'."""
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    return f"{_counted(errors, 'error')}, {_counted(warnings, 'warning')}"


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or an empty string."""
    matches = get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else ""
