"""Units of the manifest language: durations, percentages and sizes as written by people."""

from __future__ import annotations

__all__ = ["percent", "seconds"]

_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(duration: str) -> float:
    """'500ms' -> 0.5, '5m' -> 300.0 (the schema guarantees the form)."""
    unit = "ms" if duration.endswith("ms") else duration[-1]
    return int(duration[: -len(unit)]) * _FACTORS[unit]


def percent(text: str) -> float:
    """'50%' -> 0.5."""
    return float(text.rstrip("%")) / 100.0
