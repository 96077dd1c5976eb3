"""docs/manifest-keys.md stays true: every key of the manifest schema has a row, and every test a row names exists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "manifest-keys.md"
_ROW = re.compile(r"^\| `([^`]+)` \| .* \| `([^`]+)` \|$", re.M)


def _keys(node: Any, path: str, defs: dict[str, Any], seen: frozenset[str]) -> Iterator[str]:
    """Every property path of the schema: a.b, <name> for map keys, [] for list items."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _keys(defs[name], path, defs, seen | {name})
        return
    for keyword in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(keyword, []):
            yield from _keys(sub, path, defs, seen)
    for key, sub in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        yield here
        yield from _keys(sub, here, defs, seen)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _keys(node["additionalProperties"], f"{path}.<name>", defs, seen)
    if "items" in node:
        yield from _keys(node["items"], f"{path}[]", defs, seen)


def _rows() -> dict[str, str]:
    return dict(_ROW.findall(DOC.read_text(encoding="utf-8")))


def test_every_schema_key_has_a_row() -> None:
    schema = json.loads((REPO / "spec" / "planforge.schema.json").read_text(encoding="utf-8"))
    keys = list(dict.fromkeys(_keys(schema, "", schema["$defs"], frozenset())))
    missing = [key for key in keys if key not in _rows()]
    assert not missing, f"keys without a row in docs/manifest-keys.md: {missing}"


def test_every_named_test_exists() -> None:
    absent = []
    for key, proof in _rows().items():
        if " (" in proof:  # a case folder: tests/test_cases.py (name)
            case = proof.split(" (", 1)[1].rstrip(")")
            if not (REPO / "tests" / "cases" / case / "feature.yaml").is_file():
                absent.append((key, proof))
            continue
        module, _, name = proof.partition("::")
        text = (REPO / module).read_text(encoding="utf-8") if (REPO / module).is_file() else ""
        if not re.search(rf"^(async )?def {re.escape(name)}\(", text, re.M):
            absent.append((key, proof))
    assert not absent, f"rows naming tests that do not exist: {absent}"
