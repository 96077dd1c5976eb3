"""Manifests with their names replaced, consistently, and the structure of generated files with names masked.

Names (service, datastore, queue, exchange, cache ids; event names; route operation ids; schema names) are found
by walking a manifest with its JSON Schema, as free text is (manifests.py): a position whose schema is one of the
name definitions, or a mapping whose property names are. Every occurrence of a name gets the same new name, and
routing patterns (`user.*`) and `$ref`s follow, so the renamed manifest means what the original means. New names
are given in the order of the old ones, so everything planforge sorts by name keeps its order.

Renamed files have other paths and other identifiers, so their structure is compared with every name masked:
Python's syntax tree without identifiers, YAML/JSON/TOML with keys masked but the type of every key and scalar
kept (a name that YAML reads as a boolean or null shows), and each file's shape counted once per language.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from planforge.resources import schema_path
from planforge.schemawalk import rewrite_refs

from . import shapes

Rename = Callable[[str, str], str]
_KINDS = {
    "#/$defs/identifier": "identifier",
    "#/$defs/event_name": "event",
    "#/$defs/operation_id": "operation",
    "#/$defs/schema_name": "schema",
    "#/$defs/routing_pattern": "routing",
}
_ACTORS = frozenset({"client", "gateway"})

# Reserved words of the languages planforge writes, lowercase (service, event, route ids) and capitalised (schemas).
RESERVED = tuple(
    sorted(
        {
            *(w for w in keyword.kwlist + keyword.softkwlist if re.fullmatch(r"[a-z][a-z0-9]*", w)),
            *("none", "true", "false", "self", "cls", "print", "list", "dict", "str", "int", "object", "id", "type"),
            *("function", "var", "let", "const", "new", "this", "typeof", "delete", "void", "eval", "null"),
            *("undefined", "export", "default", "switch", "prototype", "constructor", "arguments", "window"),
            *("location", "server", "http", "events", "upstream", "include", "listen", "set", "map", "root"),
            *("alias", "deny", "allow", "proxy", "error", "access", "limit", "geo", "split", "stream"),
            *("select", "table", "where", "user", "order", "group", "drop", "insert", "update", "union"),
            *("join", "primary", "key", "index", "public", "column", "grant", "check", "references"),
            *("yes", "no", "on", "off", "y", "n", "nan", "inf", "then", "fi", "done", "do", "esac", "time"),
            *("exit", "run", "env", "app", "main", "impl", "models", "tests", "services", "migrations", "problem"),
        }
    )
)
RESERVED_SCHEMAS = (
    *("None", "True", "False", "Any", "Self", "List", "Dict", "Optional", "Type", "Object", "Class", "Field"),
    *("Yes", "No", "On", "Off", "Null", "Select", "Table", "Location", "Function", "Undefined", "Model"),
    *("Config", "Request", "Response", "Problem", "Enum", "Literal", "UUID", "Decimal", "Annotated"),
)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and node.get("$ref", "") not in _KINDS and node.get("$ref", "").startswith("#/"):
        target = _schema()["$defs"][node["$ref"].removeprefix("#/$defs/")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def renamed(data: Any, rename: Rename) -> Any:
    """A copy of a manifest's data with rename(kind, name) applied to every name."""
    return _transform(data, _schema(), rename)


def _transform(value: Any, node: Any, rename: Rename) -> Any:
    if not isinstance(node, dict):
        return value
    if node.get("$ref") == "#/$defs/json_schema":
        return rewrite_refs(value, lambda ref: rename("schema", ref))
    kind = _KINDS.get(node.get("$ref", ""))
    if kind is not None:
        return rename(kind, value) if isinstance(value, str) else value
    node = _resolve(node)
    if isinstance(value, str):
        kinds = [_KINDS.get(b.get("$ref", "")) for b in node.get("anyOf", ()) if isinstance(b, dict)]
        found = next((k for k in kinds if k), None)
        return rename(found, value) if found and not (found == "identifier" and value in _ACTORS) else value
    if isinstance(value, list):
        return [_transform(item, node.get("items"), rename) for item in value]
    if isinstance(value, dict):
        node = _object_branch(node)
        key_kind = _KINDS.get(_resolve_names(node))
        return {
            (rename(key_kind, k) if key_kind else k): _transform(item, _child(node, k), rename)
            for k, item in value.items()
        }
    return value


def _object_branch(node: dict[str, Any]) -> dict[str, Any]:
    """The object schema of a oneOf/anyOf (`source: client` or a route field), or node itself."""
    if "properties" in node or "propertyNames" in node:
        return node
    branches = [_resolve(b) for b in (*node.get("oneOf", ()), *node.get("anyOf", ())) if isinstance(b, dict)]
    return next((b for b in branches if "properties" in b), node)


def _resolve_names(node: dict[str, Any]) -> str:
    names = node.get("propertyNames")
    return names.get("$ref", "") if isinstance(names, dict) else ""


def _child(node: dict[str, Any], key: str) -> Any:
    if key in node.get("properties", {}):
        return node["properties"][key]
    for pattern, schema in node.get("patternProperties", {}).items():
        if re.search(pattern, key):
            return schema
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def names_of(data: Any) -> dict[str, set[str]]:
    """The words to rename: 'word' (ids, operation ids, event and routing segments) and 'schema' names."""
    found: dict[str, set[str]] = {"word": set(), "schema": set()}

    def record(kind: str, name: str) -> str:
        if kind == "schema":
            found["schema"].add(name)
        elif kind in ("event", "routing"):
            found["word"].update(s for s in name.split(".") if s not in ("*", "#"))
        else:
            found["word"].add(name)
        return name

    renamed(data, record)
    found["schema"].discard("Problem")  # built in: referenced, never declared
    return found


def order_preserving(old: set[str], new: list[str]) -> dict[str, str]:
    """Map old names to new ones, the n-th smallest to the n-th smallest (new has at least as many)."""
    return dict(zip(sorted(old), sorted(new)[: len(old)], strict=True))


def renamer(words: dict[str, str], schemas: dict[str, str]) -> Rename:
    """rename(kind, name) for the maps of words and schema names."""

    def rename(kind: str, name: str) -> str:
        if kind == "schema":
            return schemas.get(name, name)
        if kind in ("event", "routing"):
            return ".".join(words.get(s, s) for s in name.split("."))
        return words.get(name, name)

    return rename


# --- structure, names masked ---------------------------------------------------------------------------------------

_IDENTIFIER_FIELDS = ("id", "name", "attr", "arg", "module", "asname")


def python(path: str, text: str) -> Any:
    """Each top-level statement's syntax tree, strings and identifiers masked, as a multiset."""
    try:
        tree = ast.parse(text, path)
    except SyntaxError as exc:
        raise shapes.Unparsable(f"{path}: {exc}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "S"
        for field in _IDENTIFIER_FIELDS:
            if isinstance(getattr(node, field, None), str):
                setattr(node, field, "N")
    return sorted(Counter(ast.dump(statement) for statement in tree.body).items())


def data(value: Any) -> Any:
    """A loaded document with keys and strings masked, the type of each kept; mappings and lists as multisets."""
    if isinstance(value, dict):
        items = [(f"K:{type(k).__name__}", data(v)) for k, v in value.items()]
        return ("map", sorted(items, key=repr))
    if isinstance(value, list):
        return ("list", sorted((data(v) for v in value), key=repr))
    if isinstance(value, str):
        return "S"
    return type(value).__name__


def of_files(files: dict[str, str], folder: Path) -> Counter[str]:
    """Every file's structure with names masked, counted by (language, structure): paths hold names too."""
    counted: Counter[str] = Counter()
    for path, text in sorted(files.items()):
        suffix = Path(path).suffix
        if suffix == ".py":
            shape: Any = python(path, text)
        elif suffix in (".yaml", ".yml", ".json", ".toml"):
            loaded = {".json": shapes.json_document, ".toml": shapes.toml_document}.get(suffix, _yaml)(path, text)
            shape = data(loaded)
        elif suffix == ".conf" and "/rabbitmq/" not in path:
            shape = _sorted_tree(shapes.nginx(path, text, folder))
        elif suffix == ".md":
            shape = sorted(repr(_mask_mermaid(token)) for token in shapes.markdown(path, text))
        elif suffix == ".sh":
            shape = sorted(map(_mask_line, shapes.shell(path, text)))
        elif suffix == ".js":
            continue  # below, all at once
        else:
            shape = sorted(_mask_line(line) for line in text.splitlines())
        counted[f"{suffix}:{shape!r}"] += 1
    for tree in shapes.javascript({p: t for p, t in files.items() if p.endswith(".js")}, folder).values():
        counted[f".js:{_mask_js(tree)!r}"] += 1
    return counted


def _yaml(path: str, text: str) -> Any:
    import yaml

    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise shapes.Unparsable(f"{path}: {exc}") from exc


def _mask_mermaid(token: Any) -> Any:
    """A sequence diagram's participant ids are names: masked like the words of a line."""
    return ("mermaid", _mask_line(token[1])) if token[0] == "mermaid" else token


def _sorted_tree(directives: list[Any]) -> list[Any]:
    return sorted(((d, n, _sorted_tree(block)) for d, n, block in directives), key=repr)


def _mask_line(line: str) -> str:
    """A line's punctuation: every run of name characters masked; a comment line is only a comment."""
    return "#" if line.lstrip().startswith("#") else re.sub(r"[A-Za-z0-9_.-]+", "w", line)


def _mask_js(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: ("N" if k == "name" and isinstance(v, str) else _mask_js(v)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_mask_js(v) for v in tree]
    return tree
