"""The services target (not built yet)."""

from __future__ import annotations

from planforge.model import Model
from planforge.targets import Output

__all__ = ["render"]


def render(model: Model) -> Output:
    """No files yet."""
    return Output()
