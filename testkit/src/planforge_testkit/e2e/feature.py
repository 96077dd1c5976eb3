"""What a generated e2e suite knows about its feature: tests/e2e/feature.json, written by the e2e target."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AuthFacts", "Feature", "RouteFacts", "sign_token"]


@dataclass(frozen=True)
class RouteFacts:
    """A route as the client sees it through the gateway."""

    call: str
    service: str
    method: str
    path: str
    public: bool
    success: int
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    parameters: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, Any] | None]  # path parameter -> {call, field} ({call: None}: the client chooses)
    concurrency: str | None


@dataclass(frozen=True)
class AuthFacts:
    """testing.auth: the call that issues tokens and its token field; the call that creates a subject and the
    field that identifies it (None: a client cannot obtain credentials, the tests sign their own tokens)."""

    token_call: str | None
    token_field: str
    subject_call: str | None
    subject_field: str | None


@dataclass(frozen=True)
class Feature:
    """The facts the tests need: routes by call ('POST /api/v1/x'), event schemas, exchanges, JWT, limits."""

    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Feature:
        """Read feature.json."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def route(self, call: str) -> RouteFacts:
        """The route of a call such as 'POST /api/v1/users/register'."""
        raw = self.data["routes"][call]
        return RouteFacts(call=call, **raw)

    def routes(self) -> list[RouteFacts]:
        """Every route the gateway exposes, in file order."""
        return [self.route(call) for call in self.data["routes"]]

    @property
    def auth(self) -> AuthFacts | None:
        """How a client obtains a token, as the manifest's testing.auth declares it (None when it does not)."""
        raw = self.data.get("auth")
        if not raw:
            return None
        subject = raw.get("subject") or {}
        return AuthFacts(raw["token"]["call"], raw["token"]["field"], subject.get("call"), subject.get("field"))

    def event_schema(self, event: str) -> dict[str, Any]:
        """The JSON Schema of an event's data."""
        schema: dict[str, Any] = self.data["events"][event]["schema"]
        return schema

    @property
    def exchanges(self) -> list[dict[str, Any]]:
        """The feature's exchanges with their type and routing keys, for the tap."""
        exchanges: list[dict[str, Any]] = self.data["exchanges"]
        return exchanges

    @property
    def correlation_header(self) -> str:
        """The header that carries correlation IDs."""
        return str(self.data["correlation_header"])

    @property
    def rate_budget(self) -> int:
        """Requests one client IP may send at once without being limited (the gateway's burst)."""
        return int(self.data["rate_limit"]["burst"])

    @property
    def p95_limit(self) -> float:
        """The manifest's p95 latency alert threshold in seconds (1 s when the manifest sets none)."""
        return float(self.data["p95_latency_above"] or 1.0)


def sign_token(feature: Feature, private_key: str, subject: str, ttl: int = 600) -> str:
    """A JWT the feature's issuer would sign, with the key the stack gave it."""
    import jwt

    jwt_facts = feature.data["jwt"]
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl}
    if jwt_facts["issuer"]:
        claims["iss"] = jwt_facts["issuer"]
    if jwt_facts["audience"]:
        claims["aud"] = jwt_facts["audience"]
    return jwt.encode(claims, private_key, algorithm=jwt_facts["algorithm"])
