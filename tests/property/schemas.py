"""Hypothesis strategies for JSON Schemas of the manifest language, each with a value that validates against it.

Every strategy yields a `Shape`: the schema (as the manifest writes it, `$ref` by bare name) and one sample value.
The samples become event examples, so they must satisfy every keyword, formats included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from .gaps import gap

__all__ = ["FIELD_NAMES", "Shape", "enum_schemas", "object_schemas", "parameter_schemas", "property_schemas"]

# Field names: plain, camelCase and snake_case, none of them a pydantic or Python reserved word.
FIELD_NAMES = (
    "label", "amount", "note", "kind", "code", "quantity", "flags", "entries", "region",
    "score", "ratio", "createdAt", "ownerEmail", "unit_price", "colour", "remark", "detail", "level",
)  # fmt: skip

# (pattern, a value it matches): anchored, no lookaround (pydantic uses a Rust regex engine).
PATTERNS = (
    ("^[a-z]{2,8}$", "abcd"),
    ("^[A-Z]{3}$", "EUR"),
    ("^[0-9]{4}-[0-9]{2}$", "2025-03"),
    ("^[a-z0-9_-]{1,16}$", "ok_1-a"),
    ("^[A-Z][a-z]+( [A-Z][a-z]+)*$", "Ada Lovelace"),
)
FORMATS = (
    ("uuid", "3f1c9a52-8d4e-4b7a-9c61-2e5f0b7d8a11"),
    ("email", "ada@example.com"),  # left out while KNOWN_GAPS has email_special_use_domains
    ("date-time", "2025-03-02T10:15:00Z"),
    ("date", "2025-03-02"),
)
ENUM_WORDS = ("RED", "GREEN", "BLUE", "AMBER", "PENDING", "DONE")


@dataclass(frozen=True)
class Shape:
    """A JSON Schema and a value valid under it."""

    schema: dict[str, Any]
    sample: Any


@st.composite
def _strings(draw: st.DrawFn) -> Shape:
    low = draw(st.integers(0, 4))
    high = draw(st.integers(max(low, 1), 40))
    return Shape({"type": "string", "minLength": low, "maxLength": high}, "x" * max(low, 1))


def _patterned() -> st.SearchStrategy[Shape]:
    return st.sampled_from(PATTERNS).map(lambda p: Shape({"type": "string", "pattern": p[0]}, p[1]))


def _formatted() -> st.SearchStrategy[Shape]:
    formats = [f for f in FORMATS if f[0] != "email" or not gap("email_special_use_domains")]
    return st.sampled_from(formats).map(lambda f: Shape({"type": "string", "format": f[0]}, f[1]))


def _enums() -> st.SearchStrategy[Shape]:
    words = st.lists(st.sampled_from(ENUM_WORDS), min_size=1, max_size=4, unique=True)
    return words.map(lambda w: Shape({"type": "string", "enum": w}, w[0]))


@st.composite
def _integers(draw: st.DrawFn) -> Shape:
    low = draw(st.integers(-10, 10))
    high = draw(st.integers(low, low + 1000))
    return Shape({"type": "integer", "minimum": low, "maximum": high}, low)


@st.composite
def _numbers(draw: st.DrawFn) -> Shape:
    low = draw(st.integers(0, 5))
    return Shape({"type": "number", "exclusiveMinimum": low, "maximum": low + 100}, low + 0.5)


def _booleans() -> st.SearchStrategy[Shape]:
    return st.just(Shape({"type": "boolean"}, True))


def _nullable() -> st.SearchStrategy[Shape]:
    """A type list with null."""
    return st.sampled_from(
        [
            Shape({"type": ["string", "null"], "maxLength": 12}, None),
            Shape({"type": ["integer", "null"], "minimum": 0}, 3),
        ]
    )


def _unions() -> st.SearchStrategy[Shape]:
    """The unions: oneOf (branches that exclude each other) and anyOf."""
    return st.sampled_from(
        [
            Shape({"oneOf": [{"type": "string", "maxLength": 8}, {"type": "integer", "minimum": 0}]}, "ab"),
            Shape({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "boolean"}]}, False),
        ]
    )


def _scalars() -> st.SearchStrategy[Shape]:
    return st.one_of(
        _strings(), _patterned(), _formatted(), _enums(), _integers(), _numbers(), _booleans(), _nullable(), _unions()
    )


@st.composite
def _arrays(draw: st.DrawFn, items: st.SearchStrategy[Shape]) -> Shape:
    item = draw(items)
    unique = not gap("unenforced_keywords") and draw(st.booleans())
    low = draw(st.integers(0, 1))
    schema: dict[str, Any] = {
        "type": "array",
        "items": item.schema,
        "minItems": low,
        "maxItems": draw(st.integers(2, 20)),
    }
    if unique:
        schema["uniqueItems"] = True
    return Shape(schema, [item.sample] * low)


def property_schemas(refs: dict[str, Shape], depth: int = 2) -> st.SearchStrategy[Shape]:
    """A property of an object: a scalar, a `$ref` to a named schema, an array, or (while depth lasts) an object."""
    options = [_scalars(), _arrays(_scalars())]
    if refs:
        options.append(st.sampled_from(sorted(refs)).map(lambda name: Shape({"$ref": name}, refs[name].sample)))
    if depth > 0:
        nested = object_schemas(refs, depth - 1)
        options += [nested, _arrays(nested)]
    return st.one_of(options)


@st.composite
def object_schemas(draw: st.DrawFn, refs: dict[str, Shape], depth: int = 1, min_fields: int = 1) -> Shape:
    """An object with required and optional properties, additionalProperties false, sometimes min/maxProperties."""
    names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=min_fields, max_size=5, unique=True))
    fields = {name: draw(property_schemas(refs, depth)) for name in names}
    # While optional fields take a null the schema refuses, every field is required.
    required = [n for n in names if gap("unenforced_keywords") or draw(st.booleans())]
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {n: s.schema for n, s in fields.items()},
    }
    if required:
        schema["required"] = required
    optional = len(names) - len(required)
    if optional and not gap("unenforced_keywords") and draw(st.booleans()):
        schema["minProperties"] = len(required) + 1
    if draw(st.booleans()):
        schema["maxProperties"] = len(names)
    return Shape(schema, {n: s.sample for n, s in fields.items()})


def enum_schemas() -> st.SearchStrategy[Shape]:
    """A named schema that is not an object: an enum of strings."""
    return _enums()


PARAMETER_FORMATS = ("date", "date-time", "uuid")


def parameter_schemas(refs: dict[str, Shape], patterns: bool, ref_params: bool) -> st.SearchStrategy[Shape]:
    """Schemas of path and query parameters: strings with bounds, patterns, formats or enums, integers, `$ref`."""
    # Parameters take only the formats their endpoints check (PF722: date, date-time, uuid).
    formatted = _formatted().filter(lambda s: s.schema.get("format") in PARAMETER_FORMATS)
    options = [_strings().filter(lambda s: s.schema["minLength"] > 0), formatted, _enums(), _integers()]
    if patterns:
        options.append(_patterned())
    enums = sorted(name for name, shape in refs.items() if "enum" in shape.schema)
    if ref_params and enums:
        options.append(st.sampled_from(enums).map(lambda name: Shape({"$ref": name}, refs[name].sample)))
    return st.one_of(options)
