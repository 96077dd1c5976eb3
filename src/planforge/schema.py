"""Check a manifest against the published JSON Schema and turn each failure into a located diagnostic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from planforge.diagnostics import Diagnostic, did_you_mean
from planforge.loader import Document, JsonPath
from planforge.resources import schema_path

__all__ = ["manifest_schema", "schema_diagnostics", "surely_valid"]

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema, read once from spec/planforge.schema.json."""
    with schema_path().open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(manifest_schema())


@cache
def _fast_validator() -> jsonschema_rs.Draft202012Validator:
    """A compiled validator for the yes/no answer; the pure-Python one explains failures, located."""
    return jsonschema_rs.Draft202012Validator(manifest_schema(), validate_formats=False, offline=True)


def schema_diagnostics(document: Document) -> list[Diagnostic]:
    """Every schema violation of the document, located at the offending key or value."""
    data = document.data
    if data.get("planforge") != 1:
        version = data.get("planforge")
        message = (
            "missing 'planforge: 1' version key" if version is None else f"unsupported manifest version {version!r}"
        )
        return [document.diagnostic("PF100", ("planforge",), message, hint="this planforge reads 'planforge: 1'")]
    if surely_valid(_fast_validator(), data):
        return []
    diagnostics: list[Diagnostic] = []
    for error in _validator().iter_errors(data):
        diagnostics.extend(_explain(document, _Failure.of(_deepest(error))))
    return diagnostics


def surely_valid(validator: jsonschema_rs.Draft202012Validator, instance: Any) -> bool:
    """True when the compiled validator accepts the instance; False when it rejects it or cannot read it."""
    try:
        return bool(validator.is_valid(instance))
    except (ValueError, TypeError, OverflowError):
        return False


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the branch error that got furthest into the data."""
    if not error.context:
        return error
    best = max(error.context, key=lambda e: (len(e.absolute_path), e.validator not in ("type", "const", "enum")))
    if len(best.absolute_path) > len(error.absolute_path):
        return _deepest(best)
    return error


@dataclass(frozen=True)
class _Failure:
    """The parts of a jsonschema ValidationError that diagnostics use, typed."""

    path: JsonPath
    kind: str
    value: Any
    instance: Any
    schema: dict[str, Any]
    parent_schema: dict[str, Any]
    message: str
    names_key: bool

    @classmethod
    def of(cls, error: ValidationError) -> _Failure:
        """Copy what matters out of a jsonschema error."""
        raw: Any = error
        parent = raw.parent.schema if raw.parent is not None and isinstance(raw.parent.schema, dict) else {}
        schema = raw.schema if isinstance(raw.schema, dict) else {}
        return cls(
            tuple(raw.absolute_path),
            str(raw.validator),
            raw.validator_value,
            raw.instance,
            schema,
            parent,
            str(raw.message),
            "propertyNames" in raw.absolute_schema_path,
        )


def _explain(document: Document, error: _Failure) -> list[Diagnostic]:
    path = error.path
    where = _describe(path)
    kind = error.kind
    if kind == "additionalProperties":
        return _unknown_keys(document, error, path, where)
    if kind == "required":
        missing = _missing(error)
        return [document.diagnostic("PF102", path, f"{where} is missing required key '{missing}'", key=bool(path))]
    if kind == "type":
        expected = _expected_types(error.value)
        return [document.diagnostic("PF103", path, f"{where} must be {expected}, not {_kind_of(error.instance)}")]
    if kind in ("enum", "const"):
        options = error.value if kind == "enum" else [error.value]
        shown = ", ".join(str(o) for o in options)
        hint = did_you_mean(str(error.instance), [str(o) for o in options])
        return [
            document.diagnostic("PF104", path, f"{where} must be one of: {shown}; got {error.instance!r}", hint=hint)
        ]
    if error.names_key and isinstance(error.instance, str):
        title = error.schema.get("title") or "a valid name"
        hint = str(error.schema.get("description", ""))
        return [
            document.diagnostic(
                "PF105", (*path, error.instance), f"{where}: key {error.instance!r} is not {title}", hint=hint, key=True
            )
        ]
    if kind in ("pattern", "maxLength", "minLength", "format"):
        title = error.schema.get("title") or _parent_title(error) or "a valid value"
        detail = error.schema.get("description") or _parent_description(error)
        return [document.diagnostic("PF105", path, f"{where}: {error.instance!r} is not {title}", hint=detail)]
    if kind in ("minimum", "maximum", "minItems", "maxItems", "minProperties", "uniqueItems"):
        return [document.diagnostic("PF106", path, f"{where}: {error.message}")]
    return [document.diagnostic("PF107", path, f"{where}: {error.message}")]


def _unknown_keys(document: Document, error: _Failure, path: JsonPath, where: str) -> list[Diagnostic]:
    allowed = list(error.schema.get("properties", {}))
    extra = sorted(set(error.instance) - set(allowed))
    return [
        document.diagnostic(
            "PF101",
            (*path, key),
            f"unknown key '{key}' in {where}",
            hint=_split_by_comma(document, error.instance, path, key)
            or did_you_mean(key, allowed)
            or f"allowed: {', '.join(allowed)}",
            key=True,
        )
        for key in extra
    ]


def _split_by_comma(document: Document, mapping: dict[str, Any], path: JsonPath, key: str) -> str:
    """A hint when key is the tail of a value an unquoted comma cut off in a flow mapping ({a: x, y, b: z}).

    YAML reads `{does: Sends mail, then logs}` as does='Sends mail' plus a key 'then logs' without a value.
    The tell: the stray key has no value and sits on the line of another key of the same mapping (a block
    mapping never has two keys on one line)."""
    names = list(mapping)
    index = names.index(key)
    if mapping[key] is not None or index == 0:
        return ""
    previous = names[index - 1]
    lines = document.positions.keys
    line = lines.get((*path, key), (0, 0))[0]
    if not line or lines.get((*path, previous), (0, 0))[0] != line or not isinstance(mapping[previous], str):
        return ""
    return (
        f"in a flow mapping {{...}} an unquoted comma ends a value, so '{key}' was read as a key: "
        f"quote the value, e.g. {previous}: '{mapping[previous]}, {key}'"
    )


def _missing(error: _Failure) -> str:
    present = set(error.instance) if isinstance(error.instance, dict) else set()
    for name in error.value:
        if name not in present:
            return str(name)
    return "?"


def _parent_title(error: _Failure) -> str:
    return str(error.parent_schema.get("title", ""))


def _parent_description(error: _Failure) -> str:
    return str(error.parent_schema.get("description", ""))


def _expected_types(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    return " or ".join(_TYPE_NAMES.get(str(n), str(n)) for n in names)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the string {value!r}"


def _describe(path: JsonPath) -> str:
    """A readable location such as services.auth-service.routes[0].method."""
    if not path:
        return "the manifest"
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)
