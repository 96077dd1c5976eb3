"""KNOWN_GAPS: one switch per finding that a generated manifest hits and whose fix is not on main yet.

While an entry is here the strategies avoid the part of the language its finding breaks. Delete the entry when
the fix lands: the strategies then generate that part again and the property suite proves the fix.
"""

from __future__ import annotations

__all__ = ["KNOWN_GAPS", "gap"]

KNOWN_GAPS: dict[str, str] = {}


def gap(name: str) -> bool:
    """True while the finding behind this switch is not fixed: the strategy then avoids what it breaks."""
    return name in KNOWN_GAPS
