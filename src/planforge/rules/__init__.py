"""Semantic rules: what the JSON Schema cannot say about a manifest, each rule with a stable code.

Each module checks one topic and yields diagnostics; none stops at the first problem. The rules
run only on schema-valid data, and a manifest they accept without errors is one the model builder
can build (every name it looks up exists); the rules of `testing` then read that model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from planforge.diagnostics import Diagnostic
from planforge.loader import Document
from planforge.rules import (
    access,
    broker,
    caching,
    concurrency,
    datastores,
    deliveries,
    flows,
    gateway,
    keywords,
    names,
    payloads,
    references,
    resilience,
    routes,
    secrets,
    security,
    text,
)
from planforge.rules.manifest import Manifest

if TYPE_CHECKING:  # the model module takes long to import, and only model_diagnostics needs it
    from planforge.model import Model

__all__ = ["CHECKS", "model_diagnostics", "semantic_diagnostics"]

CHECKS: tuple[Callable[[Manifest], Iterator[Diagnostic]], ...] = (
    references.check,
    broker.check,
    deliveries.check,
    gateway.check,
    flows.check,
    datastores.check,
    names.check,
    routes.check,
    access.check,
    payloads.check,
    secrets.check,
    text.check,
    resilience.check,
    caching.check,
    concurrency.check,
    keywords.check,
    security.check,
)


def semantic_diagnostics(document: Document) -> list[Diagnostic]:
    """Every semantic problem of a schema-valid manifest."""
    manifest = Manifest(document)
    return [diagnostic for check in CHECKS for diagnostic in check(manifest)]


def model_diagnostics(document: Document, model: Model | None = None) -> list[Diagnostic]:
    """Problems found on the built model of a manifest the semantic rules accept (what its tests can drive);
    model is the document's, when the caller has built it."""
    from planforge.build import build_model
    from planforge.rules import testing

    manifest = Manifest(document)
    return list(testing.check_model(model or build_model(document, document.path), manifest))
