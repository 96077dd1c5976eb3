"""The loader's event paths (planforge.eventload) give exactly what the node path gives.

Every case folder's manifest, every example, hand-written edge cases and generated YAML are loaded
both ways: the same data, the same positions of every value and key, or the same diagnostics. The
default load reads values alone and positions on first use; the node path builds both at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planforge import loader
from planforge.eventload import Unusual, build_from_events, values_from_events
from planforge.loader import LoadError, load_text

from .conftest import CASES, EXAMPLES, REPO

_EDGES = {
    "plain": b"planforge: 1\nfeature: {name: x, slug: y}\n",
    "scalars": b"a: ~\nb: null\nc: Null\nd: true\ne: FALSE\nf: 010\ng: 0o17\nh: 0x1F\ni: 1.5e3\nj: .5\nk: -3\n"
    b"l: on\nm: no\nn: 2024-01-01\no: '1'\np: \"x\\u007b\"\nq: |\n  text\nr: >-\n  folded\ns: =\nt: .inf\n",
    "int keys": b"1: a\n0x10: b\n'2': c\n",
    "duplicate": b"a: 1\nb: {c: 1}\na: [1, 2]\nd: 4\n",
    "duplicate numeric": b"1: a\n'1': b\n",
    "null key": b"~: 1\nb: 2\n: 3\n",
    "bool and float keys": b"true: 1\n1.5: 2\nc: 3\n",
    "complex key": b"? [a]\n: 1\n",
    "mapping key": b"? {a: 1}\n: 1\nb: 2\n",
    "anchor and alias": b"a: &x {b: 1}\nc: *x\n",
    "unused anchor": b"a: &x 1\n",
    "merge": b"base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n",
    "inline merge": b"use:\n  <<: {x: 1}\n  y: 3\n",
    "merge value": b"a: <<\n",
    "tag": b"a: !!str 1\nb: !custom x\n",
    "bare tag": b"a: ! 12\n",
    "tagged mapping": b"a: !!map {b: 1}\n",
    "recursive alias": b"a: &x [*x]\n",
    "two documents": b"a: 1\n---\nb: 2\n",
    "two documents, duplicate in the first": b"a: 1\na: 2\n---\nb: 2\n",
    "syntax error after a duplicate": b"a: 1\na: 2\nb: [1, 2\n",
    "flow comma": b"a: {does: Sends mail, then logs}\n",
    "list root": b"- a\n- b\n",
    "scalar root": b"just text\n",
    "document marker only": b"---\n",
    "deep": b"a:" + b"".join(b"\n" + b"  " * i + b"k:" for i in range(1, 70)) + b" 1\n",
    "duplicate in a skipped value": b"a: 1\na: {b: 1, b: 2}\n",
    "key problem, value skipped": b"~: {a: 1, a: 2}\nb: 1\n",
}


def _through_nodes(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(loader, "_values_only", lambda *_args: None)
        patch.setattr(loader, "_from_events", lambda *_args: None)
        return _outcome(raw)


def _outcome(raw: bytes) -> Any:
    try:
        document = load_text(raw, "feature.yaml")
    except LoadError as exc:
        return [d.as_dict() for d in exc.diagnostics]
    return document.data, document.positions.values, document.positions.keys


def _manifests() -> list[Path]:
    cases = sorted(CASES.glob("*/feature.yaml"))
    return cases + [REPO / "examples" / name / "feature.yaml" for name in EXAMPLES]


@pytest.mark.parametrize("path", _manifests(), ids=lambda p: p.parent.name)
def test_every_case_and_example_loads_the_same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data and positions, or the diagnostics, of each manifest the suite knows."""
    raw = path.read_bytes()
    assert _outcome(raw) == _through_nodes(raw, monkeypatch)


@pytest.mark.parametrize("name", sorted(_EDGES))
def test_edge_cases_load_the_same_both_ways(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scalars, keys, duplicates, anchors, merges, tags, several documents, limits."""
    raw = _EDGES[name]
    assert _outcome(raw) == _through_nodes(raw, monkeypatch)


@pytest.mark.parametrize("name", ["anchor and alias", "merge", "tag", "complex key", "deep", "unused anchor"])
def test_what_the_event_path_leaves_to_the_node_path(name: str) -> None:
    """Anchors, aliases, merges, tags, complex keys and documents past the limits take the node path."""
    parser = yaml.CSafeLoader(_EDGES[name].decode())
    try:
        with pytest.raises(Unusual):
            build_from_events(parser, "f", loader._resolve_plain, loader.MAX_NODES, loader.MAX_DEPTH)
    finally:
        parser.dispose()


@pytest.mark.parametrize(
    "name", ["anchor and alias", "merge", "tag", "complex key", "deep", "unused anchor", "duplicate", "null key"]
)
def test_what_the_values_path_leaves_to_the_positioned_paths(name: str) -> None:
    """The values-only path also gives up on what the positioned paths report (duplicates, bad keys)."""
    parser = yaml.CSafeLoader(_EDGES[name].decode())
    try:
        with pytest.raises(Unusual):
            values_from_events(parser, loader._resolve_plain, loader.MAX_NODES, loader.MAX_DEPTH)
    finally:
        parser.dispose()


@pytest.mark.parametrize("depth", [loader.MAX_DEPTH - 2, loader.MAX_DEPTH - 1, loader.MAX_DEPTH, loader.MAX_DEPTH + 1])
def test_nesting_at_the_depth_limit_loads_the_same_both_ways(depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Around MAX_DEPTH: a scalar, an empty mapping and an empty list as the deepest value."""
    for leaf in (b" 1", b" {}", b" []"):
        raw = b"a:" + b"".join(b"\n" + b"  " * i + b"k:" for i in range(1, depth)) + leaf + b"\n"
        assert _outcome(raw) == _through_nodes(raw, monkeypatch)


def test_a_plain_manifest_takes_the_values_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples load through the values-only path and are located only when asked."""
    monkeypatch.setattr(loader, "_positioned", lambda *_args: pytest.fail("positioned path used"))
    for name in EXAMPLES:
        load_text((REPO / "examples" / name / "feature.yaml").read_bytes(), "feature.yaml")


def test_a_plain_manifest_is_located_by_the_event_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples never need the node path (so the fast path is the one that locates them)."""
    monkeypatch.setattr(loader, "_from_nodes", lambda *_args: pytest.fail("node path used"))
    for name in EXAMPLES:
        assert load_text((REPO / "examples" / name / "feature.yaml").read_bytes(), "feature.yaml").positions.values


_KEYS = st.one_of(
    st.text(alphabet="abnNtTfF01.~-x_ :{}", min_size=0, max_size=6),
    st.sampled_from(["null", "true", "0x1", "1e3", "<<", "1", "'1'"]),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["on", "~"]),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=5), flow=st.sampled_from([None, True, False]))
def test_generated_yaml_loads_the_same_both_ways(data: dict[str, Any], flow: bool | None) -> None:
    """YAML written by PyYAML in block, flow and mixed styles."""
    raw = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True).encode()
    patch = pytest.MonkeyPatch()
    try:
        assert _outcome(raw) == _through_nodes(raw, patch)
    finally:
        patch.undo()


def test_a_large_manifest_may_have_more_nodes_than_a_small_one() -> None:
    """The node limit grows with the file (one node per NODE_BYTES bytes past MAX_NODES); an alias bomb
    of a few hundred bytes is still refused at MAX_NODES (tests/test_bad_input.py)."""
    nodes = loader.MAX_NODES + 50_000
    raw = b"planforge: 1\nitems:\n" + b"  - ab\n" * nodes
    assert loader.node_limit(len(raw)) > nodes > loader.MAX_NODES
    assert len(load_text(raw, "feature.yaml").data["items"]) == nodes
    with pytest.raises(LoadError, match="more than 200000 nodes"):
        load_text(
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]\n".encode() for i in range(6)
            ),
            "feature.yaml",
        )
