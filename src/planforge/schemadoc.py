"""The manifest reference in Markdown, generated from the JSON Schema so the two never disagree."""

from __future__ import annotations

from typing import Any

from planforge.schema import manifest_schema

__all__ = ["schema_markdown"]


def schema_markdown() -> str:
    """A table per section: key, type, required, description."""
    schema = manifest_schema()
    lines = ["# Manifest reference", ""]
    lines += ["Generated from `spec/planforge.schema.json` by `planforge schema --markdown`.", ""]
    lines += [schema.get("description", ""), ""]
    lines += _table(schema, schema, "top level")
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            lines += _table(definition, schema, name)
    return "\n".join(lines).rstrip() + "\n"


def _table(node: dict[str, Any], root: dict[str, Any], title: str) -> list[str]:
    required = set(node.get("required", []))
    lines = [f"## {title}", "", "| key | type | required | description |", "|---|---|---|---|"]
    for key, spec in node.get("properties", {}).items():
        kind, description = _describe(spec, root)
        lines.append(f"| `{key}` | {kind} | {'yes' if key in required else ''} | {description} |")
    return [*lines, ""]


def _describe(spec: dict[str, Any], root: dict[str, Any]) -> tuple[str, str]:
    description = spec.get("description", "")
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        target = root["$defs"][name]
        kind = f"[{name}](#{name})" if "properties" in target else target.get("title", name)
        return kind, description or target.get("description", "")
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"]), description
    if "const" in spec:
        return f"`{spec['const']}`", description
    kind = spec.get("type", "any")
    if kind == "array":
        item, _ = _describe(spec.get("items", {}), root)
        return f"list of {item}", description
    if kind == "object" and "additionalProperties" in spec and isinstance(spec["additionalProperties"], dict):
        value, _ = _describe(spec["additionalProperties"], root)
        return f"map of name to {value}", description
    return str(kind), description
