"""The sampler the generated tests build request bodies, parameters and event data with (planforge_runtime.samples).

Samples must satisfy every keyword: a generated service (its pydantic models from planforge's emitter) accepts
a sampled request and reaches its 501 stub instead of answering 422, and an event without examples is contract
tested with valid samples of its schema.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planforge_runtime.samples import SampleError, sample, samples
from planforge_testkit.testing import assert_problem

from .test_services import client_for, generate, load_service

REPO = Path(__file__).resolve().parent.parent
KEYWORDS = REPO / "tests" / "fixtures" / "keywords" / "feature.yaml"
MINI = REPO / "tests" / "fixtures" / "mini" / "feature.yaml"

NAMED = {"Zip": {"type": "string", "pattern": "^[0-9]{5}$"}}
SCHEMAS: list[dict[str, Any]] = [
    {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
    {"type": "string", "pattern": "^[a-z]+$", "minLength": 4, "maxLength": 6},
    {"type": "string", "pattern": "^(foo|bar)-\\w{4}$"},
    {"type": "string", "pattern": "^\\+?[1-9]\\d{1,14}$"},
    {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "minLength": 7},
    {"type": "string", "pattern": "[^@\\s]+@[^@\\s]+\\.[a-z]{2,}"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "ipv6"},
    {"type": "string", "format": "hostname"},
    {"oneOf": [{"type": "integer", "minimum": 3}, {"type": "string", "enum": ["a"]}]},
    {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "integer"}]},
    {"allOf": [{"required": ["a"], "properties": {"a": {"type": "string", "minLength": 30}}}, {"required": ["b"]}]},
    {"$ref": "Zip"},
    {"type": "object", "minProperties": 2, "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}},
    {"type": "object", "required": ["a"], "dependentRequired": {"a": ["b"]}, "properties": {"b": {"const": 1}}},
    {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "string", "format": "uuid"}},
    {"type": "array", "minItems": 2, "uniqueItems": True, "items": {"enum": ["x", "y", "z"]}},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
    {"type": "array", "contains": {"type": "integer", "minimum": 5}, "items": {"type": ["integer", "string"]}},
    {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 7},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": ["null", "string"], "pattern": "^[a-z]{2}$"},
    {"not": {"type": "string"}, "type": ["string", "integer"]},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: json.dumps(s, sort_keys=True)[:60])
def test_every_sample_is_valid(schema: dict[str, Any]) -> None:
    """Whatever keywords a schema uses, the sample validates (formats checked, named $refs resolved)."""
    value = sample(schema, "token-1", schemas=NAMED)
    registry_schema = {**schema, "$defs": {}}
    checker = jsonschema.FormatChecker()
    resolved = json.loads(json.dumps(registry_schema).replace('"$ref": "Zip"', '"pattern": "^[0-9]{5}$"'))
    jsonschema.Draft202012Validator(resolved, format_checker=checker).validate(value)


def test_samples_are_deterministic_and_differ_between_tokens() -> None:
    """The same token gives the same value; other tokens give other values where the schema allows."""
    schema = SCHEMAS[0]
    assert sample(schema, "a") == sample(schema, "a")
    assert len({sample(schema, f"t{i}") for i in range(6)}) > 1
    assert len({json.dumps(v) for v in samples({"type": "string", "format": "email"}, 3, "ev")}) == 3


def test_a_schema_no_value_satisfies_is_an_error() -> None:
    """Contradictory keywords give SampleError, never an invalid value."""
    with pytest.raises(SampleError):
        sample({"type": "integer", "minimum": 5, "maximum": 1}, "t")


def test_a_lookaround_pattern_is_an_error_not_a_wrong_value() -> None:
    """Constructs the generator does not handle are refused with SampleError."""
    with pytest.raises(SampleError):
        sample({"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]{8}$"}, "t")


@settings(max_examples=10, deadline=None)
@given(st.from_regex(r"\A[a-z]{1,8}\Z"))
def test_the_sampler_runs_inside_a_hypothesis_test(word: str) -> None:
    """No nested @given: property tests over manifests can sample values."""
    assert re.fullmatch(r"[A-Z]{2}-[0-9]{3}", sample({"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"}, word))


def test_a_sampled_request_reaches_the_stub_not_422(tmp_path: Path) -> None:
    """Body, path and query values sampled from the e2e facts pass the generated service's validation: 501."""
    root = generate(KEYWORDS, tmp_path)
    facts = json.loads((root / "tests" / "e2e" / "feature.json").read_text(encoding="utf-8"))
    route = facts["routes"]["POST /api/shops/{shopCode}/items"]
    body = sample(route["request"], "first")
    path = re.sub(
        r"\{([^}]+)\}", lambda m: str(sample(route["parameters"][m[1]]["schema"], m[1])), "/shops/{shopCode}/items"
    )
    query = {n: sample(p["schema"], n) for n, p in route["parameters"].items() if p["in"] == "query"}
    app = load_service(root, "shop_service")
    with client_for(app) as client:
        response = client.post(path, json=body, params=query)
    assert_problem(response, 501)


@pytest.mark.services
def test_an_event_without_examples_is_contract_tested_with_samples(tmp_path: Path) -> None:
    """The mini thing.made declares no examples: its event contract tests run on valid samples (no IndexError)."""
    root = generate(MINI, tmp_path)
    command = [sys.executable, "-m", "pytest", "tests/test_events_contract.py", "-p", "no:logging", "-rA"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert len(re.findall(r"PASSED .*test_examples_match_the_schema\[thing\.made-", result.stdout)) >= 1
    assert "PASSED tests/test_events_contract.py::test_a_producer_refuses_invalid_data" in result.stdout
