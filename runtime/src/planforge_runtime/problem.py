"""RFC 9457 problem details: the built-in 'Problem' schema every manifest may reference."""

from __future__ import annotations

from typing import Any

__all__ = ["PROBLEM_JSON", "PROBLEM_SCHEMA"]

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
