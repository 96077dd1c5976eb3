"""The pipeline: manifest -> load -> validate -> build_model -> targets -> {path: text}."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from planforge.diagnostics import Diagnostic, has_errors, sort_diagnostics
from planforge.loader import Document, LoadError, ReadError, load_text, read_manifest
from planforge.targets import Output

if TYPE_CHECKING:  # the model module takes long to import, and a no-op check or generate never builds one
    from planforge.model import Model

__all__ = ["Generation", "Rendering", "Validation", "generate_files", "manifest_ref", "render", "validate"]


@dataclass(frozen=True)
class Validation:
    """The loaded document (None when it could not be loaded, and failure says why) and every diagnostic found."""

    document: Document | None
    diagnostics: list[Diagnostic]
    failure: LoadError | ReadError | None = None
    model: Model | None = None  # built for the model rules when the manifest got that far (named by its path)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.document is not None and not has_errors(self.diagnostics)


@dataclass(frozen=True)
class Rendering:
    """What generation would write under OUT/<slug>: owned and user-owned files."""

    model: Model
    slug: str
    output: Output


@dataclass(frozen=True)
class Generation:
    """What check and generate need: the diagnostics, and the files when the manifest had no error.

    failure is the error when the manifest could not be read or loaded (its diagnostics are in diagnostics).
    """

    diagnostics: list[Diagnostic]
    failure: LoadError | ReadError | None
    slug: str | None
    output: Output | None


def validate(manifest: Path, display: str | None = None) -> Validation:
    """Load and check a manifest: loader, schema, semantic rules, then rules on the model; all problems at once."""
    shown = display or str(manifest)
    try:
        raw = read_manifest(manifest, shown)
    except (LoadError, ReadError) as exc:
        return Validation(None, sort_diagnostics(exc.diagnostics), exc)
    return _validate_bytes(raw, shown)


def generate_files(manifest: Path, display: str, ref: str) -> Generation:
    """Validate and render, through the run cache: the same bytes rendered before are not rendered again."""
    from planforge.rendercache import Remembered, recall, remember, run_key

    try:
        raw = read_manifest(manifest, display)
    except (LoadError, ReadError) as exc:
        return Generation(sort_diagnostics(exc.diagnostics), exc, None, None)
    key = run_key(raw, display, ref)
    hit = recall(key)
    if hit is not None:
        return Generation(hit.diagnostics, None, hit.slug, hit.output)
    validation = _validate_bytes(raw, display)
    if validation.document is None or not validation.ok:
        return Generation(validation.diagnostics, validation.failure, None, None)
    rendering = render(validation.document, ref, model=validation.model)
    remember(key, Remembered(validation.diagnostics, rendering.slug, rendering.output))
    return Generation(validation.diagnostics, None, rendering.slug, rendering.output)


def _validate_bytes(raw: bytes, shown: str) -> Validation:
    from planforge.rules import model_diagnostics, semantic_diagnostics
    from planforge.schema import schema_diagnostics

    try:
        document = load_text(raw, shown)
    except LoadError as exc:
        return Validation(None, sort_diagnostics(exc.diagnostics), exc)
    with _long_lived():
        found = schema_diagnostics(document)
        if not has_errors(found):
            found += semantic_diagnostics(document)
        if has_errors(found):
            return Validation(document, sort_diagnostics(found))
        from planforge.build import build_model

        model = build_model(document, document.path)
        found += model_diagnostics(document, model)
    return Validation(document, sort_diagnostics(found), model=model)


@contextmanager
def _long_lived() -> Iterator[None]:
    """What exists now (the loaded manifest, the model) left out of the cyclic collector's scans until the
    stage ends: each full collection otherwise walks every node of a large manifest again, so the rules and
    targets, which allocate a lot, cost more than linearly in its size (3,000 operations: about 3x)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def manifest_ref(manifest: Path, out: Path) -> str:
    """How generated headers name the manifest: relative to OUT's parent (the project), else its file name."""
    try:
        relative = os.path.relpath(manifest.resolve(), out.resolve().parent)
    except ValueError:
        return manifest.name
    return manifest.name if relative.startswith("..") else Path(relative).as_posix()


def render(
    document: Document, ref: str, targets: tuple[str, ...] | None = None, *, model: Model | None = None
) -> Rendering:
    """Build the model and render every target (or the named ones) in memory; model is the document's when
    validation built it (only how headers name the manifest differs: ref)."""
    from planforge.build import build_model
    from planforge.targets.registry import render_targets

    with _long_lived():
        model = replace(model, manifest=ref) if model is not None else build_model(document, ref)
        return Rendering(model, model.slug, render_targets(model, targets))
