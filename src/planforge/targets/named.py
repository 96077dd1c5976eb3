"""The manifest's named schemas as targets look them up: built once per model, though targets ask per service.

A lookup table of every named schema made again for each service made the work grow with services x schemas
(a 3,000-operation feature spent most of a cold generate there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA

from planforge.model import Model
from planforge.schemawalk import referenced

__all__ = ["referenced_names", "with_problem"]


def with_problem(model: Model) -> Mapping[str, Any]:
    """Every named schema by name, the Problem schema first (a manifest's own Problem replaces it in place)."""
    return model.derived("named schemas, Problem first", lambda: {"Problem": PROBLEM_SCHEMA, **model.named_schemas()})


def referenced_names(model: Model, roots: list[Any], problem: bool = False) -> list[str]:
    """The names of the named schemas roots refer to, transitively, in manifest order (Problem first when
    problem); sorts what it found, instead of walking every name."""
    named = with_problem(model) if problem else model.named_schemas()
    key = "schema order, Problem first" if problem else "schema order"
    order = model.derived(key, lambda: {name: index for index, name in enumerate(named)})
    return referenced(named, roots, order)
