"""PF721: every keyword of the manifest's JSON Schemas is one the services enforce (or a pure annotation).

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

__all__ = ["KEYWORDS", "check"]

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


def check(m: Manifest) -> Iterator[Diagnostic]:
    """No schema uses a keyword outside draft 2020-12 (x- extensions are allowed)."""
    for site, schema in schema_sites(m):
        for path, node in subschemas(schema, site):
            for key in node:
                if key in KEYWORDS or key.startswith("x-"):
                    continue
                yield m.error("PF721", (*path, key), *_explained(key, node), key=True)


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
