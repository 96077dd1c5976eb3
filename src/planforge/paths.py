"""REST paths: templates with {parameters}, prefixes and calls written as 'METHOD /path'."""

from __future__ import annotations

import re

__all__ = ["is_under", "normalized", "parse_call", "path_parameters", "template_matches"]

_PARAMETER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")


def path_parameters(template: str) -> list[str]:
    """Names of the {parameters} of a path template, in order (repeats kept)."""
    return _PARAMETER.findall(template)


def normalized(template: str) -> str:
    """The template with every parameter written '{}': /users/{id} and /users/{userId} are the same route."""
    return _PARAMETER.sub("{}", template)


def template_matches(template: str, path: str) -> bool:
    """Whether a concrete path (or another template) matches a route template, '{param}' matching one segment."""
    pattern = _PARAMETER.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
    return re.fullmatch(pattern, path.split("?", 1)[0]) is not None


def is_under(path: str, prefix: str) -> bool:
    """Is path the prefix itself or below it, on a segment boundary? Every path is under ''."""
    return not prefix or path == prefix or path.startswith(prefix.rstrip("/") + "/")


def parse_call(call: str) -> tuple[str, str]:
    """'POST /auth/login?x=1' -> ('POST', '/auth/login'); the schema guarantees the form."""
    method, path = call.split(" ", 1)
    return method, path.split("?", 1)[0]
