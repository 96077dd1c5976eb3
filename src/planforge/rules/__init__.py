"""Semantic rules: what the JSON Schema cannot say about a manifest, each rule with a stable code.

Each module checks one topic and yields diagnostics; none stops at the first problem. The rules
run only on schema-valid data, and a manifest they accept without errors is one the model builder
can build (every name it looks up exists).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from planforge.diagnostics import Diagnostic
from planforge.loader import Document
from planforge.rules import (
    broker,
    datastores,
    flows,
    gateway,
    names,
    payloads,
    references,
    resilience,
    routes,
    security,
    text,
)
from planforge.rules.manifest import Manifest

__all__ = ["CHECKS", "semantic_diagnostics"]

CHECKS: tuple[Callable[[Manifest], Iterator[Diagnostic]], ...] = (
    references.check,
    broker.check,
    gateway.check,
    flows.check,
    datastores.check,
    names.check,
    routes.check,
    payloads.check,
    text.check,
    resilience.check,
    security.check,
)


def semantic_diagnostics(document: Document) -> list[Diagnostic]:
    """Every semantic problem of a schema-valid manifest."""
    manifest = Manifest(document)
    return [diagnostic for check in CHECKS for diagnostic in check(manifest)]
