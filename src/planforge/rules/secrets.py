"""PF716-PF717: no secret crosses the broker: event data declares no credential, and no field is named like one.

An event is copied to every queue bound to it, kept in the publisher's outbox, in dead-letter queues and in
replays, and read by every consumer, present and future. A secret there (a password, its hash, a token, a key)
is out of its owner's hands for good. A field the schema itself marks secret (`writeOnly: true`, JSON Schema's
"sent, never returned"; `format: password`, OpenAPI's) is refused (PF716); a field whose name says credential is
warned about (PF717): a name is evidence, not proof, so a field that only looks like one (`nextPageToken`) can
stay, and the warning says how to keep a real one out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from planforge.diagnostics import Diagnostic
from planforge.loader import JsonPath
from planforge.rules.manifest import Manifest
from planforge.schemawalk import subschemas

__all__ = ["check", "credential_name"]

_HINT = "send a secret only to the one service that keeps it: in a call (services.<publisher>.calls) or to its route"
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "credential", "credentials"})
_DIGEST_WORDS = frozenset({"hash", "hashed", "digest", "salt"})
_KEY_QUALIFIERS = frozenset({"api", "private", "secret", "signing", "encryption", "access"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def check(m: Manifest) -> Iterator[Diagnostic]:
    """Each event's data, through its $refs: declared secrets are errors, credential-like names warnings."""
    for name, event in m.events.items():
        for path, field, schema in _properties(m, event["data"], ("events", name, "data")):
            if schema.get("writeOnly") is True or schema.get("format") == "password":
                marker = "writeOnly: true" if schema.get("writeOnly") is True else "format: password"
                yield m.error(
                    "PF716",
                    (*path, marker.split(":")[0]),
                    f"event '{name}' carries '{field}', which its schema marks secret ({marker}); events are copied"
                    " to every bound queue, the outbox, dead-letter queues and replays",
                    _HINT,
                )
            elif credential_name(field):
                yield m.warning(
                    "PF717",
                    path,
                    f"event '{name}' carries '{field}', which is named like a credential; events are copied to"
                    " every bound queue, the outbox, dead-letter queues and replays",
                    _HINT + "; rename the field if it holds no secret",
                    key=True,
                )


def credential_name(field: str) -> bool:
    """Whether a property name names a credential: a password (or its hash), a secret, a token, a private key."""
    words = [w.lower() for w in _WORDS.findall(field)]
    if not words:
        return False
    last, before = words[-1], words[:-1]
    if last in _SECRET_WORDS or last == "token":
        return True
    if last in _DIGEST_WORDS:
        return any(w in _SECRET_WORDS for w in before)
    return last == "key" and bool(before) and before[-1] in _KEY_QUALIFIERS


def _properties(m: Manifest, root: Any, site: JsonPath) -> Iterator[tuple[JsonPath, str, dict[str, Any]]]:
    """Every property of a schema, at any depth, following $ref into named schemas (each visited once)."""
    pending: list[tuple[JsonPath, Any]] = [(site, root)]
    visited: set[str] = set()
    while pending:
        path, schema = pending.pop(0)
        for where, node in subschemas(schema, path):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in m.schemas and ref not in visited:
                visited.add(ref)
                pending.append((("schemas", ref), m.schemas[ref]))
            properties = node.get("properties")
            for field, sub in properties.items() if isinstance(properties, dict) else ():
                if isinstance(sub, dict):
                    yield (*where, "properties", field), field, sub
