"""Targets: each renders the model into files, ``render(model) -> Output``; none writes to disk."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Output"]


@dataclass(frozen=True)
class Output:
    """Files a target renders, by path relative to OUT/<slug>.

    owned: planforge owns them (indexed, regenerated, deleted when they drop out).
    user: created once for a person to own; never overwritten or deleted.
    """

    owned: dict[str, str] = field(default_factory=dict)
    user: dict[str, str] = field(default_factory=dict)
