"""Read-only JSON containers: manifest JSON decoded once and shared by every target, safely.

FrozenDict and FrozenList are real dict and list subclasses (json, Jinja and isinstance checks work
unchanged), but every mutating method raises TypeError, so one target cannot change what the next
one reads. Copy (`dict(value)`, `list(value)`) before changing.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["FrozenDict", "FrozenList", "freeze", "thaw"]


def _refuse(self: object, *_args: object, **_kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: copy it before changing it")


class FrozenDict(dict[str, Any]):
    """A dict that refuses every change."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        """Unhashable, like dict (the class attribute would otherwise be inherited as None anyway)."""
        raise TypeError("unhashable type: 'FrozenDict'")


class FrozenList(list[Any]):
    """A list that refuses every change."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = reverse = sort = clear = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        """Unhashable, like list."""
        raise TypeError("unhashable type: 'FrozenList'")


def freeze(value: Any) -> Any:
    """A deep read-only copy of a JSON value (scalars are returned as they are)."""
    if isinstance(value, dict):
        frozen = FrozenDict()
        dict.update(frozen, {key: freeze(item) for key, item in value.items()})
        return frozen
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A deep plain (mutable, exactly-typed) copy of a JSON value, for serialisers that check exact types."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value
