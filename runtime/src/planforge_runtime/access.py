"""Who may call a route: the manifest's `access`, checked after the token and before the handler.

One mechanism for every generated route that declares it: `owner` names the path parameter that must equal
the token's subject; every required scope must be in the token's `scope` (space-separated, RFC 8693) or
`scp` (a list) claim, every required role in its `roles` claim. A refusal is 403 problem+json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planforge_runtime.problems import Problem

__all__ = ["Access", "granted_roles", "granted_scopes"]


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a token holds: `scope` as a space-separated string, or `scp` as a list or string."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def granted_roles(claims: Mapping[str, Any]) -> frozenset[str]:
    """The roles a token holds: its `roles` claim, a list of strings."""
    value = claims.get("roles")
    return frozenset(v for v in value if isinstance(v, str)) if isinstance(value, list) else frozenset()


@dataclass(frozen=True, slots=True)
class Access:
    """A route's access rule."""

    owner: str | None = None
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def check(self, claims: Mapping[str, Any], path_params: Mapping[str, Any]) -> None:
        """Return when the caller may call the route, else raise Problem(403) saying what is missing."""
        if self.owner is not None:
            subject = claims.get("sub")
            if not isinstance(subject, str) or subject != str(path_params.get(self.owner)):
                raise Problem(403, f"Only the owner may call this operation: {self.owner} must be your subject.")
        missing_scopes = sorted(set(self.scopes) - granted_scopes(claims))
        if missing_scopes:
            raise Problem(403, "The token lacks the scopes this operation needs.", missing_scopes=missing_scopes)
        missing_roles = sorted(set(self.roles) - granted_roles(claims))
        if missing_roles:
            raise Problem(403, "The token lacks the roles this operation needs.", missing_roles=missing_roles)
