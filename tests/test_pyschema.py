"""The model emitter, shape by shape: the model of a schema accepts every instance the schema accepts.

Each case is a JSON Schema (with the named schemas it refers to). schemathesis draws request bodies of an
operation whose body is that schema, the runtime's JSON Schema check (planforge_runtime's format checker
included) keeps the valid ones, and the generated pydantic model must accept each, parsed from Python data and
from JSON: a model may be looser than its schema, never stricter.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from planforge_runtime.formats import FORMAT_CHECKER
from pydantic import TypeAdapter

from planforge.schemawalk import rewrite_refs
from planforge.targets.pymodels import FeatureModels
from planforge.targets.pyschema import Emitter

_COUNTER = itertools.count()

# (case id, the subject schema, other named schemas it refers to)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "object-required-optional-forbid",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "count"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 10},
                "count": {"type": "integer", "minimum": 0, "maximum": 100},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "flag": {"type": "boolean"},
            },
        },
        {},
    ),
    (
        "patterns-read-as-python-re-search",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "inner": {"type": "string", "pattern": "[0-9]+"},
                "unicode": {"type": "string", "pattern": "^\\w+$"},
            },
            "required": ["code", "inner", "unicode"],
        },
        {},
    ),
    (
        "formats",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "at": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "clock": {"type": "string", "format": "time"},
                "mail": {"type": "string", "format": "email", "maxLength": 254},
                "secret": {"type": "string", "format": "password", "minLength": 2},
                "v4": {"type": "string", "format": "ipv4"},
                "v6": {"type": "string", "format": "ipv6"},
                "site": {"type": "string", "format": "uri"},
            },
        },
        {},
    ),
    ("string-enum", {"type": "string", "enum": ["RED", "in-progress", "1st", "", "RED"]}, {}),
    ("nullable-enum", {"enum": ["A", "B", None]}, {}),
    ("mixed-enum", {"enum": [1, "one", True, None, {"a": 1}]}, {}),
    ("const", {"type": "object", "properties": {"kind": {"const": "fixed"}, "n": {"const": 3}}}, {}),
    (
        "nullable-type-lists",
        {
            "type": "object",
            "properties": {
                "text": {"type": ["string", "null"], "maxLength": 5},
                "number": {"type": ["integer", "null"], "minimum": 3},
                "either": {"type": ["string", "integer"], "maxLength": 2, "maximum": 9},
            },
            "required": ["text", "number", "either"],
        },
        {},
    ),
    (
        "arrays",
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 1, "maxItems": 4},
                "unique": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
                "anything": {"type": "array"},
                "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            },
        },
        {},
    ),
    (
        "refs-and-roots",
        {
            "type": "object",
            "required": ["line", "amount", "lines"],
            "properties": {
                "line": {"$ref": "Line"},
                "amount": {"$ref": "Amount"},
                "lines": {"$ref": "Lines"},
                "colour": {"$ref": "Colour"},
            },
        },
        {
            "Line": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
            "Amount": {"type": "number", "minimum": 0, "multipleOf": 0.01},
            "Lines": {"type": "array", "items": {"$ref": "Line"}, "maxItems": 3},
            "Colour": {"type": "string", "enum": ["RED", "GREEN"]},
        },
    ),
    (
        "unions",
        {
            "type": "object",
            "properties": {
                "one": {"oneOf": [{"type": "string", "maxLength": 8}, {"type": "integer", "minimum": 0}]},
                "any": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "boolean"}]},
                "maybe": {"anyOf": [{"$ref": "Point"}, {"type": "null"}]},
                "shapes": {
                    "oneOf": [
                        {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
                        {"type": "object", "properties": {"w": {"type": "number"}}, "required": ["w"]},
                    ]
                },
            },
        },
        {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": False}},
    ),
    (
        "nested-inline-objects",
        {
            "type": "object",
            "properties": {
                "owner": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}},
                },
                "entries": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "integer"}}}},
                "status": {"type": "string", "enum": ["ON", "OFF"]},
            },
        },
        {"Status": {"type": "string", "enum": ["X"]}, "Owner": {"type": "object", "properties": {}}},
    ),
    (
        "property-names-that-are-not-identifiers",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["class", "my-field", "2nd", "model_x", "_private", "str", "json", "Field"],
            "properties": {
                "class": {"type": "string"},
                "my-field": {"type": "integer"},
                "my_field": {"type": "integer"},
                "2nd": {"type": "boolean"},
                "model_x": {"type": "string"},
                "_private": {"type": "string"},
                "str": {"type": "string"},
                "json": {"type": "string"},
                "Field": {"type": "string"},
                "ünï": {"type": "string"},
            },
        },
        {},
    ),
    (
        "keywords-typed-loosely",
        {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {"^x-": {"type": "string"}},
            "properties": {
                "both": {"allOf": [{"type": "integer"}, {"minimum": 2}]},
                "one": {"allOf": [{"$ref": "Point"}]},
                "never": {"not": {"type": "string"}},
                "cond": {"if": {"type": "integer"}, "then": {"minimum": 1}, "else": {"type": "string"}},
                "deps": {"type": "object", "dependentSchemas": {"a": {"required": ["b"]}}},
                "closed": {"type": "object", "unevaluatedProperties": False, "properties": {"a": {"type": "string"}}},
                "map": {"type": "object", "additionalProperties": {"type": "integer", "maximum": 5}},
                "sloppy": {"properties": {"a": {"type": "string"}}},
                "step": {"type": "number", "multipleOf": 0.1},
                "evens": {"type": "integer", "multipleOf": 2},
            },
        },
        {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    ),
    (
        "defaults",
        {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "default": 10, "maximum": 100},
                "label": {"type": "string", "default": 'say "hi"\n'},
                "colour": {"type": "string", "enum": ["RED", "BLUE"], "default": "RED"},
                "tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
                "maybe": {"type": ["string", "null"], "default": None},
            },
        },
        {},
    ),
    (
        "recursion",
        {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "Tree"}, "maxItems": 2}}},
        {
            "Tree": {
                "type": "object",
                "properties": {"leaf": {"type": "integer"}, "next": {"$ref": "Forest"}},
            },
            "Forest": {"type": "object", "properties": {"trees": {"type": "array", "items": {"$ref": "Tree"}}}},
        },
    ),
    (
        "numbers-with-float-and-big-bounds",
        {
            "type": "object",
            "properties": {
                "between": {"type": "integer", "minimum": 0.5, "exclusiveMaximum": 10.5},
                "above": {"type": "integer", "exclusiveMinimum": 1.5, "maximum": 1e20},
                "beyond": {"type": "number", "exclusiveMinimum": 2**53, "maximum": 10**30},
                "huge": {"type": ["number", "null"], "minimum": -1e300},
            },
        },
        {},
    ),
    (
        "formats-with-patterns-and-lengths",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid", "pattern": "^[0-9A-F-]+$"},
                "at": {"type": "string", "format": "date-time", "maxLength": 22},
                "ip": {"type": "string", "format": "ipv6", "pattern": "^0"},
            },
        },
        {},
    ),
    (
        "members-beyond-the-properties",
        {
            "type": "object",
            "required": ["a", "extra"],
            "properties": {
                "a": {"type": "string"},
                "map": {"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": {}},
                "counted": {"type": "object", "properties": {"k": {"type": "integer"}}, "minProperties": 2},
                "matched": {"type": "object", "properties": {"k": {}}, "patternProperties": {"^x": {"type": "string"}}},
            },
        },
        {},
    ),
    (
        "a-root-that-refers-to-itself",
        {"$ref": "Nested"},
        {
            "Nested": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"$ref": "Nested"}, "maxItems": 3}]},
        },
    ),
    (
        "names-of-base-model-attributes",
        {
            "type": "object",
            "required": ["model_config", "register", "mro", "json", "copy", "schema", "__init__", "Config"],
            "properties": {
                name: {"type": "string"}
                for name in ("model_config", "model_fields", "register", "mro", "json", "copy", "schema", "__init__")
            }
            | {"Config": {"type": "integer"}, "if": {"type": "boolean"}, "0": {"type": "string"}},
        },
        {},
    ),
    (
        "defaults-of-every-type",
        {
            "type": "object",
            "properties": {
                "colour": {"$ref": "Colour", "default": "GREEN"},
                "shade": {"type": "string", "enum": ["light", "dark"], "default": "dark"},
                "count": {"type": "integer", "default": 2.0},
                "ratio": {"type": "number", "default": 1e20},
                "point": {"type": "object", "properties": {"x": {"type": "integer"}}, "default": {"x": 1}},
                "day": {"type": "string", "format": "date", "default": "2025-01-01"},
                "wrong": {"type": "integer", "default": "ten"},
            },
        },
        {"Colour": {"type": "string", "enum": ["RED", "GREEN"]}},
    ),
]


def models_module(named: dict[str, Any], roots: list[str]) -> tuple[str, types.ModuleType, dict[str, str]]:
    """The models source of named schemas (the roots and what they need), imported as a module."""
    emitter = Emitter(named, set())
    for name in named:
        emitter.declare(name)
    classes = {name: emitter.emit_named(name) for name in named}
    source = FeatureModels(emitter.definitions, classes, {}).subset('"""Models."""', [classes[n] for n in roots])
    return source, imported(source), classes


def imported(source: str) -> types.ModuleType:
    """The models source run as a module of its own (pydantic resolves the annotations in it)."""
    module = types.ModuleType(f"planforge_test_models_{next(_COUNTER)}")
    sys.modules[module.__name__] = module
    exec(compile(source, "models.py", "exec"), module.__dict__)
    return module


def json_schema(named: dict[str, Any], subject: str) -> dict[str, Any]:
    """The subject schema as a standalone JSON Schema: bare-name '$ref's point into $defs."""
    defs = {name: rewrite_refs(schema, lambda ref: "#/$defs/" + ref) for name, schema in named.items()}
    return {"$ref": f"#/$defs/{subject}", "$defs": defs}


def round_trip(adapter: TypeAdapter[Any], validator: Draft202012Validator, instance: Any) -> None:
    """The model takes the instance from Python data and from JSON, and writes it back (as a response or an
    event's data is written: JSON mode, aliases, unset fields left out) as data the schema accepts."""
    for value in (adapter.validate_python(instance), adapter.validate_json(json.dumps(instance))):
        written = adapter.dump_python(value, mode="json", by_alias=True, exclude_unset=True)
        assert validator.is_valid(written), (instance, written)


def bodies(named: dict[str, Any], subject: str) -> Any:
    """Schemathesis's strategy of requests to an operation whose JSON body is the subject schema."""
    schemas = {name: rewrite_refs(schema, lambda ref: "#/components/schemas/" + ref) for name, schema in named.items()}
    body = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{subject}"}}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "models", "version": "1"},
        "paths": {"/subject": {"post": {"requestBody": body, "responses": {"200": {"description": "ok"}}}}},
        "components": {"schemas": schemas},
    }
    return schemathesis.openapi.from_dict(document)["/subject"]["POST"].as_strategy()


@pytest.mark.parametrize(("subject", "others"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_model_accepts_every_instance_of_the_schema(subject: dict[str, Any], others: dict[str, Any]) -> None:
    named = {"Subject": subject, **others}
    _, module, classes = models_module(named, ["Subject"])
    adapter = TypeAdapter(getattr(module, classes["Subject"]))
    schema = json_schema(named, "Subject")
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)

    valid: list[int] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(bodies(named, "Subject"))
    def accepted(case: Any) -> None:
        instance = case.body
        if not validator.is_valid(instance):
            return  # the drawing is not always exact: the schema check is the authority
        round_trip(adapter, validator, instance)
        valid.append(1)

    accepted()
    assert len(valid) >= 5, "too few valid instances drawn to say anything"


@pytest.mark.parametrize(("subject", "others"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_models_are_the_same_bytes_every_run(subject: dict[str, Any], others: dict[str, Any]) -> None:
    named = {"Subject": subject, **others}
    first, _, _ = models_module(named, ["Subject"])
    second, _, _ = models_module(json.loads(json.dumps(named)), ["Subject"])
    assert first == second
    ast.parse(first)


def test_names_stay_apart_from_schema_names_imports_and_keywords() -> None:
    named = {
        "Status": {"type": "string", "enum": ["A"]},
        "Order": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["B"]},
                "none": {"type": "object", "properties": {"a": {"type": "string"}}},
                "field": {"type": "object", "properties": {"b": {"type": "string"}}},
            },
        },
    }
    source, module, classes = models_module(named, ["Order", "Status"])
    defined = [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    assert len(defined) == len(set(defined))
    assert classes == {"Status": "Status", "Order": "Order"}
    assert {"Status1", "None1", "Field1"} <= set(defined)
    assert module.Order.model_validate({"status": "B", "none": {"a": "x"}, "field": {"b": "y"}})


def test_manifest_text_is_only_ever_a_string_or_docstring_in_the_source() -> None:
    hostile = '"""\nimport os; os.system("x")\n"""\\'
    named = {
        "Thing": {
            "type": "object",
            "description": hostile,
            "properties": {
                hostile: {"type": "string", "pattern": '^"""\n(?!")', "default": hostile},
                "kind": {"type": "string", "enum": [hostile, "')\nimport os"], "description": hostile},
                "nested": {"type": "object", "description": hostile, "properties": {"a": {"const": hostile}}},
            },
        }
    }
    source, module, _ = models_module(named, ["Thing"])
    tree = ast.parse(source)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    assert {type(n).__name__ for n in ast.walk(tree) if isinstance(n, ast.Call)} == {"Call"}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls <= {"Field", "ConfigDict"}
    assert module.Thing.model_validate({hostile: hostile, "kind": hostile}).kind == hostile


# (case id, schema, an instance the schema accepts that a too strict model would refuse)
EDGES: list[tuple[str, dict[str, Any], Any]] = [
    ("dollar-before-a-final-newline", {"type": "string", "pattern": "^[A-Z]{3}$"}, "EUR\n"),
    ("unicode-digit", {"type": "string", "pattern": "^\\d+$"}, "\u0663"),
    ("integer-written-as-float", {"type": "integer", "minimum": 1}, 1.0),
    ("huge-integer-is-a-number", {"type": "number"}, 10**30),
    ("bound-beyond-a-float", {"type": "integer", "maximum": 10**400}, 5),
    ("lowercase-date-time", {"type": "string", "format": "date-time"}, "2025-03-02t10:15:00z"),
    ("date-time-with-fraction", {"type": "string", "format": "date-time"}, "2025-03-02T10:15:00.123456+01:00"),
    ("enum-with-null", {"enum": ["A", None]}, None),
    ("one-of-with-null", {"oneOf": [{"type": "string"}, {"type": "null"}]}, None),
    ("empty-string-enum-value", {"type": "string", "enum": ["", "a"]}, ""),
    ("extra-property-by-pattern", {"type": "object", "properties": {"a": {"type": "string"}},
                                   "patternProperties": {"^x-": {}}, "additionalProperties": False}, {"x-b": 1}),
    ("unevaluated-with-all-of", {"type": "object", "allOf": [{"properties": {"b": {"type": "integer"}}}],
                                 "properties": {"a": {"type": "string"}}, "unevaluatedProperties": False}, {"b": 1}),
    ("number-beyond-a-float", {"type": "number", "maximum": 10**500}, 10**400),
    ("integer-beyond-a-float-bound", {"type": "number", "exclusiveMinimum": 2**53}, 2**53 + 1),
    ("integer-inside-fractional-bounds", {"type": "integer", "minimum": 0.5, "exclusiveMaximum": 3.5}, 3),
    ("uppercase-uuid-with-pattern", {"type": "string", "format": "uuid", "pattern": "^[0-9A-F-]+$"},
     "A0A0A0A0-A0A0-A0A0-A0A0-A0A0A0A0A0A0"),
    ("ipv6-written-back-as-given", {"type": "string", "format": "ipv6", "maxLength": 6}, "0:0::1"),
    ("fraction-written-back-as-given", {"type": "string", "format": "date-time", "pattern": "\\.1Z$"},
     "2025-03-02T10:15:00.1Z"),
    ("member-required-beyond-the-properties", {"type": "object", "properties": {"a": {}}, "required": ["b"]},
     {"b": 1}),
    ("members-counted", {"type": "object", "properties": {"a": {}}, "minProperties": 2}, {"a": 1, "b": 2}),
    ("self-referring-root", {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"$ref": "Subject"}}]},
     [1, [2, [3]]]),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "instance"), [(e[1], e[2]) for e in EDGES], ids=[e[0] for e in EDGES])
def test_the_model_accepts_edge_instances_of_the_schema(schema: dict[str, Any], instance: Any) -> None:
    validator = Draft202012Validator(json_schema({"Subject": schema}, "Subject"), format_checker=FORMAT_CHECKER)
    validator.validate(instance)
    _, module, classes = models_module({"Subject": schema}, ["Subject"])
    round_trip(TypeAdapter(getattr(module, classes["Subject"])), validator, instance)


def test_the_source_is_ruff_clean_when_names_and_types_are_long(tmp_path: Path) -> None:
    long = "AVeryLongSchemaNameThatTakesMostOfTheLineOnItsOwnWhenItIsWritten"
    named = {
        long: {"type": ["array", "null"], "items": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"}},
        "Holder": {
            "type": "object",
            "properties": {
                "aFieldWithALongNameAsWell": {"anyOf": [{"$ref": long}, {"type": "integer"}, {"type": "boolean"}]},
                "bounded": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5, "description": "x" * 100},
                "shaped": {"type": "object", "description": "y" * 120, "properties": {"a": {"type": "string"}}},
            },
        },
    }
    source, module, _ = models_module(named, ["Holder", long])
    path = tmp_path / "models.py"
    path.write_text(source, encoding="utf-8")
    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (
        [ruff, "format", "--check", "--diff", str(path)],
        [ruff, "check", "--select", "E,F,W,I,UP,B", "--ignore", "E501", str(path)],
    ):
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert module.Holder.model_validate({"aFieldWithALongNameAsWell": ["ab"]}).bounded == 5


def test_enum_member_names_avoid_every_public_str_method_of_this_python() -> None:
    from planforge.targets import pynames

    assert {name for name in dir(str) if not name.startswith("_")} <= pynames._ENUM_TAKEN


@pytest.mark.parametrize(
    "data",
    [
        {"type": ["object", "null"], "properties": {"id": {"type": "string"}}, "required": ["id"]},
        {"$ref": "Maybe"},
        {"anyOf": [{"$ref": "Point"}, {"type": "null"}]},
    ],
    ids=["object-or-null", "ref-to-object-or-null", "any-of-ref-or-null"],
)
def test_an_event_payload_the_schema_lets_be_null_takes_null(data: dict[str, Any]) -> None:
    named = {
        "Maybe": {"type": ["null", "object"], "properties": {"x": {"type": "integer"}}},
        "Point": {"type": "object", "properties": {"x": {"type": "integer"}}},
    }
    emitter = Emitter(named, set())
    for name in named:
        emitter.declare(name)
    emitter.taken.add("Happened")
    emitter.emit_event("Happened", data, "The data of thing.happened.")
    source = FeatureModels(emitter.definitions, {}, {"thing.happened": "Happened"}).subset('"""M."""', ["Happened"])
    payload = imported(source).Happened
    assert payload.model_validate(None).model_dump(mode="json") is None
    value = {"id": "a"} if "properties" in data else {"x": 1}
    assert payload.model_validate(value).model_dump(mode="json", by_alias=True, exclude_unset=True) == value


def test_the_source_passes_ruff_and_mypy_strict_with_hostile_and_long_text(tmp_path: Path) -> None:
    hostile = "q\"'\\ \"\"\" ''' \n{x}{{}} \r\t\u2028 end"
    long = "N" * 90
    named = {
        long: {
            "type": "object",
            "description": hostile,
            "properties": {
                long.lower(): {"type": "string", "pattern": hostile + "x" * 90, "default": hostile * 3},
                "choice": {"type": "string", "enum": [hostile, "y" * 120], "default": "y" * 120},
                "wide": {"type": ["integer", "null"], "minimum": -(10**20), "maximum": 1e20, "default": 10**19},
                "real": {"type": "number", "default": 1e-300, "exclusiveMaximum": 1e300, "minimum": 0.5},
                "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"const": hostile}}},
                          "default": [{"k": hostile}]},
                "shape": {"type": "object", "default": {"a": [hostile, 1, None, True], "b" * 80: {"c": 1.5}}},
                "colour": {"$ref": "E" + long, "default": "a" * 100},
                "next": {"$ref": long + "2"},
                "mails": {"type": "array", "items": {"type": "string", "pattern": "[a-z0-9.!#$%&'*+/=?^_`{|}~-]+" * 3}},
                "byName": {"type": "object", "additionalProperties": {"type": "string", "pattern": "[|]" * 30}},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "[a-z]" * 80}, "default": ["a" * 80]},
                "either": {"anyOf": [{"type": "string", "pattern": "a, b" * 20}, {"type": "integer"}]},
            },
        },
        long + "2": {"type": ["object", "null"], "properties": {"a": {"$ref": long + "2"}}},
        "E" + long: {"type": "string", "enum": [hostile, "a" * 100, None]},
        "R" + long[:60]: {"type": "array", "items": {"$ref": "E" + long}, "maxItems": 3},
    }  # fmt: skip
    source, _, _ = models_module(named, list(named))
    (tmp_path / "models.py").write_text(source, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mypy]\nstrict = true\nplugins = ["pydantic.mypy"]\n[tool.ruff]\nline-length = 88\n', encoding="utf-8"
    )
    tools = Path(sys.executable).parent
    for command in (
        [str(tools / "ruff"), "format", "--check", "--diff", "models.py"],
        [str(tools / "ruff"), "check", "--select", "E,F,W,I,UP,B", "--ignore", "E501", "models.py"],
        [str(tools / "mypy"), "--no-incremental", "models.py"],
    ):
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_models_are_the_same_bytes_under_any_hash_seed() -> None:
    script = (
        "import hashlib, sys; sys.path[:0] = sys.argv[1:]; from tests import test_pyschema as t\n"
        "texts = [t.models_module({'Subject': s, **o}, ['Subject'])[0] for _, s, o in t.CASES]\n"
        "print(hashlib.sha256('\\n'.join(texts).encode()).hexdigest())"
    )
    root = str(Path(__file__).parent.parent)
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, root],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "1", "4242")
    }
    assert len(digests) == 1
