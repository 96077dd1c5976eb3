"""Pydantic v2 models from the manifest's JSON Schemas, by datamodel-code-generator used as a library.

The generator is imported only when a result is not already in planforge's content cache, so
validate and check stay light; the cache key holds the generator's version and every input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from planforge_runtime.problem import PROBLEM_SCHEMA

from planforge.cache import cached_text
from planforge.model import Model, Service
from planforge.schemawalk import point_refs
from planforge.targets.registry import TargetError

__all__ = ["Models", "python_models"]


@dataclass(frozen=True)
class Models:
    """models.py and the class each schema became (datamodel-code-generator renames clashing names)."""

    source: str
    classes: dict[str, str]


def _marker(name: str) -> str:
    return f"The manifest's {name} schema."


def python_models(model: Model, service: Service, title: str, width: int, called: tuple[str, ...] = ()) -> Models:
    """Pydantic v2 models for the schemas the service's routes use, and those of the routes it calls (called,
    with the schemas they refer to; title: safe for a docstring)."""
    known = {"Problem": PROBLEM_SCHEMA, **{name: schema.value for name, schema in model.schemas}}
    names = [*service.schemas, *(n for n in called if n not in service.schemas)]
    schemas = {
        name: point_refs(known[name], "#/components/schemas/") | {"description": _marker(name)}
        for name in names
        if name in known
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "", "version": ""},
        "paths": {},
        "components": {"schemas": schemas},
    }
    header = f'"""Request and response models of {title}, from the manifest."""'
    key = json.dumps([_generator_version(), document, header, width])
    source = cached_text("models", key, lambda: _generate(document, header, width))
    return Models(source, _classes(source, list(schemas)))


def _generator_version() -> str:
    from importlib.metadata import version

    return version("datamodel-code-generator")


def _generate(document: dict[str, Any], header: str, width: int) -> str:
    """Run datamodel-code-generator on an OpenAPI document holding only component schemas."""
    from datamodel_code_generator import generate
    from datamodel_code_generator.enums import DataModelType, InputFileType
    from datamodel_code_generator.format import Formatter, PythonVersion

    source = generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        formatters=[Formatter.BUILTIN],
        builtin_format_line_length=width,
        disable_timestamp=True,
        custom_file_header=header,
        use_schema_description=True,
        use_annotated=True,
        field_constraints=True,
        use_double_quotes=True,
        use_standard_collections=True,
        use_union_operator=True,
    )
    if not isinstance(source, str):
        raise TargetError("datamodel-code-generator returned several modules for one document")
    return source.rstrip("\n") + "\n"


def _classes(source: str, names: list[str]) -> dict[str, str]:
    import ast

    markers = {_marker(name): name for name in names}
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and inner.value.strip() in markers:
                found.setdefault(markers[inner.value.strip()], node.name)
    missing = [name for name in names if name not in found]
    if missing:
        raise TargetError(f"datamodel-code-generator made no class for schema(s) {', '.join(missing)}")
    return found
