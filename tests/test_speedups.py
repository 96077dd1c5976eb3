"""The fast paths give the same answers as the slow ones they stand in for.

- YAML: libyaml's emitter is used only where it writes exactly PyYAML's bytes (API documents, k8s streams);
- manifest JSON is decoded once into read-only containers, shared by every reader;
- the compiled (jsonschema-rs) validators never accept what the pure-Python validator rejects.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from planforge import yamltext
from planforge.build import build_model
from planforge.frozen import FrozenDict, FrozenList, freeze
from planforge.loader import load_manifest
from planforge.model import JsonValue
from planforge.rules.payloads import _FAST_META
from planforge.schema import surely_valid
from planforge.targets import asyncapi, openapi
from planforge.yamltext import dump_yaml, dump_yaml_all, literal_keeps

from .conftest import EXAMPLES, REPO


def _pure(data: Any, width: int, literal: bool) -> str:
    """What PyYAML's pure-Python emitter writes (the reference bytes)."""

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(FrozenDict, yaml.SafeDumper.represent_dict)
    Dumper.add_representer(FrozenList, yaml.SafeDumper.represent_list)
    if literal:  # the same representer: what is compared is the emitter only
        Dumper.add_representer(str, yamltext._literal)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=width)


@pytest.mark.parametrize("example", EXAMPLES)
def test_api_documents_are_byte_identical_to_the_pure_python_emitter(example: str) -> None:
    """The example's OpenAPI and AsyncAPI documents, fast path against the reference emitter."""
    path = REPO / "examples" / example / "feature.yaml"
    model = build_model(load_manifest(path), "feature.yaml")
    for service in model.services:
        document = openapi.document(model, service)
        assert dump_yaml(document, width=1000) == _pure(document, 1000, False)
    document = asyncapi.document(model)
    assert dump_yaml(document, width=120, literal_blocks=True) == _pure(document, 120, True)


_TEXT = st.text(max_size=300) | st.sampled_from(["", " a", "a ", "a\nb", "a\n\n", "\u2028", "😀", "\x85", "x" * 200])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(data=_JSON, literal=st.booleans(), width=st.sampled_from([80, 120, 1000]))
def test_any_json_value_is_written_as_the_pure_python_emitter_writes_it(data: Any, literal: bool, width: int) -> None:
    """Any text at all (astral characters, separators, controls, long and multi-line keys) gives the same bytes."""
    assert dump_yaml(data, width=width, literal_blocks=literal) == _pure(data, width, literal)


def _pure_stream(documents: list[Any], width: int) -> str:
    """What PyYAML's pure-Python emitter writes for dump_yaml_all's representer (the reference bytes)."""

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 (PyYAML's signature)
            return True

    def literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value and literal_keeps(value) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, literal)
    return yaml.dump_all(documents, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=width)


@pytest.mark.parametrize("example", EXAMPLES)
def test_kubernetes_manifests_are_byte_identical_to_the_pure_python_emitter(
    example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every document stream the k8s target writes for the example, fast path against the reference emitter."""
    from planforge.targets import k8s
    from planforge.targets.registry import render_targets

    streams: list[tuple[list[Any], str]] = []

    def spy(documents: list[Any], *, width: int) -> str:
        text = dump_yaml_all(documents, width=width)
        streams.append((documents, text))
        return text

    monkeypatch.setattr(k8s, "dump_yaml_all", spy)
    model = build_model(load_manifest(REPO / "examples" / example / "feature.yaml"), "feature.yaml")
    render_targets(model, ("k8s",))
    assert streams
    for documents, text in streams:
        assert text == _pure_stream(documents, 120)


_BLOCK_TEXT = st.lists(
    st.text(alphabet=st.sampled_from([*" \nab#:{}[]-?|>!&*%@`,'\"\t\ré~0.", "\u3000", "\x85"]), max_size=40),
    min_size=1,
    max_size=4,
).map("\n".join)
_STREAM = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT | _BLOCK_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(documents=st.lists(st.dictionaries(_TEXT, _STREAM, max_size=4), min_size=1, max_size=3))
def test_any_document_stream_is_written_as_the_pure_python_emitter_writes_it(documents: list[Any]) -> None:
    """Multi-line text with blank, indented or space-ending lines, tabs, CR and any other text: the same bytes."""
    for width in (20, 120):
        assert dump_yaml_all(documents, width=width) == _pure_stream(documents, width)


def _same_nodes(ours: yaml.Node, theirs: yaml.Node) -> bool:
    """Two node trees alike in everything an emitter reads (tag, value, style, flow style)."""
    if type(ours) is not type(theirs) or ours.tag != theirs.tag:
        return False
    if isinstance(ours, yaml.ScalarNode):
        return bool(ours.value == theirs.value and ours.style == theirs.style)
    if getattr(ours, "flow_style", None) != getattr(theirs, "flow_style", None) or len(ours.value) != len(theirs.value):
        return False
    if isinstance(ours, yaml.MappingNode):
        return all(
            _same_nodes(k, k2) and _same_nodes(v, v2) for (k, v), (k2, v2) in zip(ours.value, theirs.value, strict=True)
        )
    return all(_same_nodes(a, b) for a, b in zip(ours.value, theirs.value, strict=True))


_SHARED = {"shared": "twice"}


@settings(max_examples=400, deadline=None)
@given(data=_JSON, literal=st.booleans(), frozen=st.booleans())
def test_the_node_tree_is_the_representers(data: Any, literal: bool, frozen: bool) -> None:
    """planforge.yamlnodes builds the nodes PyYAML's representer builds (plain and read-only containers)."""
    from planforge.yamlnodes import node_tree

    data = freeze(data) if frozen else data
    dumper_class = yamltext._dumper(False, literal)
    style = yamltext._literal_style if literal else yamltext._plain_style
    ours = node_tree(data, dumper_class(io.StringIO()), style, aliases=True)
    assert ours is not None
    assert _same_nodes(
        ours, dumper_class(io.StringIO(), default_flow_style=False, sort_keys=False).represent_data(data)
    )


@pytest.mark.parametrize("data", [[{"a": 1}, _SHARED, _SHARED], {"a": (1, 2)}, {"a": 1.5j}], ids=str)
def test_what_the_node_tree_leaves_to_the_representer(data: Any) -> None:
    """A container met twice (PyYAML writes an anchor and an alias) and other types take PyYAML's representer."""
    from planforge.yamlnodes import node_tree

    dumper_class = yamltext._dumper(False, False)
    assert node_tree(data, dumper_class(io.StringIO()), yamltext._plain_style, aliases=True) is None
    if data[1] is _SHARED if isinstance(data, list) else False:
        assert "&id001" in dump_yaml(data, width=80) == _pure(data, 80, False)


def test_json_values_are_decoded_once_and_read_only() -> None:
    """Every reader gets the same decoded value; no reader can change what the next one sees."""
    value = JsonValue.of({"type": "object", "properties": {"a": {"enum": [1, 2]}}})
    assert value.value is value.value
    assert value.value == {"type": "object", "properties": {"a": {"enum": [1, 2]}}}
    assert json.loads(json.dumps(value.value)) == value.value
    with pytest.raises(TypeError):
        value.value["type"] = "string"
    with pytest.raises(TypeError):
        value.value["properties"]["a"]["enum"].append(3)
    with pytest.raises(TypeError):
        value.value.update({"x": 1})
    assert value == JsonValue.of({"type": "object", "properties": {"a": {"enum": [1, 2]}}})
    assert {**value.value, "x": 1}["x"] == 1


_KEYWORDS = st.sampled_from(
    ["type", "properties", "items", "required", "minimum", "maxLength", "enum", "$ref", "allOf", "anyOf", "pattern"]
)
_SCHEMA_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["string", "object", "x", "(("]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYWORDS | st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
_PYTHON_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)


@settings(max_examples=400, deadline=None)
@given(schema=_SCHEMA_VALUES)
def test_the_compiled_metaschema_check_never_accepts_what_jsonschema_rejects(schema: Any) -> None:
    """PF712 relies on this: a schema the fast check passes is one the pure-Python check passes too."""
    if surely_valid(_FAST_META, schema):
        assert _PYTHON_META.is_valid(schema)


def test_an_invalid_schema_is_still_reported_by_the_ranked_error(tmp_path: Path) -> None:
    """The fast check only skips valid schemas: an invalid one still gets best_match's message."""
    from planforge.pipeline import validate

    data = load_manifest(REPO / "tests" / "fixtures" / "mini" / "feature.yaml").data
    assert data["schemas"], "the mini fixture declares schemas"
    name = next(iter(data["schemas"]))
    data["schemas"][name] = {"type": "objekt"}
    manifest = tmp_path / "feature.yaml"
    manifest.write_text(json.dumps(data))  # JSON is YAML
    codes = [(d.code, d.message) for d in validate(manifest).diagnostics]
    assert any(code == "PF712" and "'objekt' is not valid" in message for code, message in codes), codes


def _reference_topic_match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """RabbitMQ's topic matching word by word (the recursive definition the compiled pattern replaces)."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_reference_topic_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _reference_topic_match(rest, words[1:])


_TOPIC_WORDS = st.lists(st.sampled_from(["a", "b", "", "*", "#", "a*", "#b", "x+y", "(", "\\"]), min_size=1, max_size=5)


@settings(max_examples=2000, deadline=None)
@given(pattern=_TOPIC_WORDS, key=_TOPIC_WORDS)
def test_topic_matching_is_the_word_by_word_definition(pattern: list[str], key: list[str]) -> None:
    """The compiled topic pattern answers as the recursive definition, for wildcards, empty and odd words."""
    from planforge.amqp import topic_matches

    expected = _reference_topic_match(tuple(pattern), tuple(".".join(key).split(".")))
    assert topic_matches(".".join(pattern), ".".join(key)) is expected


def _reference_breaking(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or char in (
        "\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"
    )


def _reference_escape(char: str, *, python: bool) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    if python:
        return f"\\U{code:08x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40))
def test_escapes_look_up_only_what_is_not_printable_ascii(text: str) -> None:
    """The escaping functions (which skip printable ASCII) answer as a per-character lookup of every character."""
    from planforge import escape

    spaced = "".join(" " if _reference_breaking(c) else c for c in text)
    assert escape.one_line(text) == " ".join(spaced.split())
    escaped = "".join(_reference_escape(c, python=False) if c != "\n" and _reference_breaking(c) else c for c in text)
    assert escape._unicode_escapes(text) == escaped
    assert escape._py_escapes(text) == "".join(
        _reference_escape(c, python=True) if _reference_breaking(c) else c for c in text
    )


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXT, inner, max_size=4)
        | st.dictionaries(st.integers() | st.none() | st.booleans(), inner, max_size=2)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(data=_ANY_JSON, indent=st.sampled_from([1, 2, 4]), sort_keys=st.booleans())
def test_indented_json_is_what_json_dumps_writes(data: Any, indent: int, sort_keys: bool) -> None:
    """Any JSON value (NaN, infinities, tuples, non-string keys, any text), with and without sorted keys."""
    from planforge.jsontext import indented_json

    try:
        expected = json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
    except TypeError:  # keys json cannot sort
        with pytest.raises(TypeError):
            indented_json(data, indent, sort_keys=sort_keys)
        return
    assert indented_json(data, indent, sort_keys=sort_keys) == expected
    assert indented_json(freeze(data), indent, sort_keys=sort_keys) == expected
