"""PF721-PF723: every keyword of the manifest's JSON Schemas is one the services enforce (or a pure annotation).

Services check request bodies and events against the schemas with a draft 2020-12 validator, which
ignores keywords it does not know. So a keyword outside draft 2020-12 (OpenAPI 3.0's ``nullable``, draft
4's ``dependencies``, a typo) would be silently dropped: it is refused instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from planforge.diagnostics import Diagnostic
from planforge.rules.jsonschemas import schema_sites
from planforge.rules.manifest import Manifest
from planforge.schemawalk import subschemas

__all__ = ["CHECKED_FORMATS", "KEYWORDS", "PARAMETER_KEYWORDS", "check"]

# Draft 2020-12's vocabularies (core, applicator, unevaluated, validation, meta-data, format, content), and the
# annotations OpenAPI 3.1 adds to them.
KEYWORDS = frozenset(
    {
        *("$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment", "$defs"),
        *("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items"),
        *("contains", "properties", "patternProperties", "additionalProperties", "propertyNames"),
        *("unevaluatedItems", "unevaluatedProperties"),
        *("type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"),
        *("maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains"),
        *("maxProperties", "minProperties", "required", "dependentRequired"),
        *("title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples", "format"),
        *("contentEncoding", "contentMediaType", "contentSchema"),
        *("example", "discriminator", "xml", "externalDocs"),
    }
)


# The formats the services' validator checks (with planforge-runtime's libraries installed).
CHECKED_FORMATS = frozenset(
    {"date", "date-time", "email", "idn-email", "idn-hostname", "ipv4", "ipv6", "regex", "time", "uuid"}
)
# What a generated endpoint enforces on a path or query parameter (FastAPI Path/Query and the annotation).
PARAMETER_KEYWORDS = frozenset(
    {
        *("type", "enum", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
        *("minLength", "maxLength", "pattern", "items", "$ref"),
        *("title", "description", "examples", "example", "deprecated", "$comment"),
    }
)
_PARAMETER_FORMATS = frozenset({"uuid", "date-time", "date"})


def check(m: Manifest) -> Iterator[Diagnostic]:
    """No schema uses a keyword outside draft 2020-12 (x- extensions are allowed) or a format nothing checks,
    and parameter schemas use only what the endpoints enforce."""
    for site, schema in schema_sites(m):
        parameter = "parameters" in site
        for path, node in subschemas(schema, site):
            for key in node:
                if key not in KEYWORDS and not key.startswith("x-"):
                    yield m.error("PF721", (*path, key), *_explained(key, node), key=True)
                elif parameter and key not in PARAMETER_KEYWORDS and not key.startswith("x-"):
                    yield m.error(
                        "PF723",
                        (*path, key),
                        f"'{key}' in a parameter schema is not enforced by the generated endpoint",
                        "parameters support type, enum, format (uuid, date, date-time), minimum/maximum, "
                        "minLength/maxLength, pattern and items; check the rest in the handler and drop it here",
                        key=True,
                    )
            yield from _format(m, path, node, parameter)


def _format(m: Manifest, path: tuple[str | int, ...], node: dict[str, object], parameter: bool) -> Iterator[Diagnostic]:
    value = node.get("format")
    if not isinstance(value, str):
        return
    checked = _PARAMETER_FORMATS if parameter else CHECKED_FORMATS
    if value not in checked:
        yield m.error(
            "PF722",
            (*path, "format"),
            f"format '{value}' is not checked by the services, so a value that is not one would pass",
            f"use one of {', '.join(sorted(checked))}, or a pattern",
        )


def _explained(key: str, node: dict[str, object]) -> tuple[str, str]:
    if key == "nullable":
        kind = node.get("type")
        example = f'type: [{kind}, "null"]' if isinstance(kind, str) else 'type: [..., "null"]'
        return (
            "'nullable' is OpenAPI 3.0, not JSON Schema 2020-12: the services would ignore it",
            f"allow null in the type instead: {example}",
        )
    if key == "dependencies":
        return (
            "'dependencies' is draft 4-7, not JSON Schema 2020-12: the services would ignore it",
            "use dependentRequired (names) or dependentSchemas (schemas)",
        )
    return (
        f"'{key}' is not a JSON Schema 2020-12 keyword: the services would ignore it",
        "remove it, or name it x-... if it is an annotation for people",
    )
