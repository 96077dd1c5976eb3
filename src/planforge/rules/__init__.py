"""Semantic rules: what the JSON Schema cannot say about a manifest, each rule with a stable code."""

from __future__ import annotations

from planforge.diagnostics import Diagnostic
from planforge.loader import Document

__all__ = ["semantic_diagnostics"]


def semantic_diagnostics(document: Document) -> list[Diagnostic]:
    """Every semantic problem of a schema-valid manifest."""
    return []
