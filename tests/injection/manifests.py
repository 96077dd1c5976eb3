"""Manifests with their free text replaced: where the schema allows text, and what neutral text is.

The text positions are found by walking each example together with the manifest's JSON Schema, so every
field declared as `text` (or a list of `texts`) is covered, today's and tomorrow's; descriptions and titles
inside the manifest's JSON Schemas are covered too. The replacement is a function of the text, so
references between texts (a scenario's flow names a flow) stay consistent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from planforge.loader import load_manifest
from planforge.resources import schema_path

Path_ = tuple[str | int, ...]
_TEXT_REFS = {"#/$defs/text"}
_SCHEMA_TEXT_KEYS = ("description", "title")


@cache
def _schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"] not in _TEXT_REFS and node["$ref"].startswith("#/$defs/"):
        target = _schema()["$defs"][node["$ref"].removeprefix("#/$defs/")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def text_paths(data: Any) -> list[Path_]:
    """Every position of data whose schema is free text."""
    return sorted(set(_walk(data, _schema(), ())), key=str)


def _walk(value: Any, node: Any, path: Path_) -> Iterator[Path_]:
    if not isinstance(node, dict):
        return
    if node.get("$ref") == "#/$defs/json_schema":
        yield from _json_schema_texts(value, path)
        return
    node = _resolve(node)
    if node.get("$ref") in _TEXT_REFS:
        if isinstance(value, str):
            yield path
        return
    for branch in (*node.get("oneOf", ()), *node.get("anyOf", ()), *node.get("allOf", ())):
        yield from _walk(value, branch, path)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, _child(node, key), (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, node.get("items"), (*path, index))


def _child(node: dict[str, Any], key: str) -> Any:
    if key in node.get("properties", {}):
        return node["properties"][key]
    for pattern, schema in node.get("patternProperties", {}).items():
        if re.search(pattern, key):
            return schema
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _json_schema_texts(value: Any, path: Path_) -> Iterator[Path_]:
    """The description and title strings anywhere inside one of the manifest's JSON Schemas."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _SCHEMA_TEXT_KEYS and isinstance(item, str):
                yield (*path, key)
            elif key not in ("examples", "example", "enum", "const", "default"):
                yield from _json_schema_texts(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_schema_texts(item, (*path, index))


def example_data(manifest: Path) -> dict[str, Any]:
    """An example manifest's plain data, as planforge loads it."""
    return load_manifest(manifest).data


def replaced(data: Any, paths: list[Path_], replace: Callable[[str], str]) -> Any:
    """A copy of data with the string at each path replaced."""
    copy = json.loads(json.dumps(data))
    for path in paths:
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = replace(parent[path[-1]])
    return copy


def _get(data: Any, path: Path_) -> Any:
    for key in path:
        data = data[key]
    return data


def write(data: Any, folder: Path) -> Path:
    """The data as a manifest file (JSON is YAML 1.2; every non-ASCII character as an escape)."""
    path = folder / "feature.yaml"
    path.write_text(json.dumps(data, ensure_ascii=True, indent=1) + "\n", encoding="utf-8")
    return path


def neutral(text: str) -> str:
    """Inert text that keeps what planforge derives from text (a flow's slug: its ASCII words, lowercased)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower())) or "-"
