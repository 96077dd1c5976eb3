"""JWT for non-public routes: verification with pinned algorithms and a required exp, and signing for login."""

from __future__ import annotations

import time
from typing import Any

import jwt
from fastapi.security import HTTPBearer

from planforge.runtime.config import ServiceConfig, Settings
from planforge.runtime.problems import Problem

__all__ = ["BEARER", "TokenIssuer", "TokenVerifier"]

# One scheme for every service, so the OpenAPI documents name it alike.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerAuth", bearerFormat="JWT")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _is_symmetric(algorithm: str) -> bool:
    return algorithm.startswith("HS")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers=_CHALLENGE)


class TokenVerifier:
    """Checks bearer tokens: signature with a pinned algorithm, exp required and checked, issuer and audience."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        # 'none' is never accepted, even if a manifest listed it.
        self.algorithms = [a for a in config.jwt_algorithms if a.lower() != "none"] or ["RS256"]
        self.issuer = config.jwt_issuer
        self.audience = config.jwt_audience
        symmetric = _is_symmetric(self.algorithms[0])
        self.key = settings.jwt_secret if symmetric else settings.jwt_public_key

    def verify(self, token: str | None) -> dict[str, Any]:
        """The token's claims, or a 401 Problem."""
        if not token:
            raise _unauthorized("A bearer token is required.")
        if not self.key:
            raise _unauthorized("The service has no key to verify tokens with (set JWT_PUBLIC_KEY or JWT_SECRET).")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The bearer token is not valid: {exc}.") from None
        return claims


class TokenIssuer:
    """Signs tokens the way TokenVerifier checks them (for the service that logs users in)."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        self.algorithm = next((a for a in config.jwt_algorithms if a.lower() != "none"), "RS256")
        self.issuer = config.jwt_issuer
        self.audience = config.jwt_audience
        self.ttl = settings.jwt_ttl_seconds
        self.key = settings.jwt_secret if _is_symmetric(self.algorithm) else settings.jwt_private_key

    def issue(self, subject: str, **claims: Any) -> str:
        """A signed token for subject that expires after the configured time to live."""
        if not self.key:
            raise Problem(503, "The service has no key to sign tokens with (set JWT_PRIVATE_KEY or JWT_SECRET).")
        now = int(time.time())
        payload: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + self.ttl, **claims}
        if self.issuer:
            payload["iss"] = self.issuer
        if self.audience:
            payload["aud"] = self.audience
        return jwt.encode(payload, self.key, algorithm=self.algorithm)
