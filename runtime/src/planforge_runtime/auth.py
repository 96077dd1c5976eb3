"""JWT for non-public routes: verification with pinned algorithms and a required exp, and signing for login.

A feature may pin several algorithms (say RS256 and ES256): each has its own verifying key, and a token is
checked with the key of the algorithm its header names, never another one (no algorithm confusion). With
JWT_JWKS_FILE (key rotation) the key is the one of the set named by the token's "kid", read on every token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from fastapi.security import HTTPBearer

from planforge_runtime.config import ServiceConfig, Settings
from planforge_runtime.keys import jwt_key_files
from planforge_runtime.problems import Problem

__all__ = ["BEARER", "TokenIssuer", "TokenVerifier", "verifying_keys"]

# One scheme for every service, so the OpenAPI documents name it alike.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerAuth", bearerFormat="JWT")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# The JWK key type each algorithm needs: a kid cannot make an RS256 token check against an HMAC secret.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "HS": "oct"}


def _is_symmetric(algorithm: str) -> bool:
    return algorithm.startswith("HS")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers=_CHALLENGE)


def _pinned(config: ServiceConfig) -> list[str]:
    # 'none' is never accepted, even if a manifest listed it.
    return [a for a in config.jwt_algorithms if a.lower() != "none"] or ["RS256"]


def verifying_keys(algorithms: list[str], settings: Settings) -> dict[str, str]:
    """The verifying key of each algorithm: its file in JWT_KEYS_DIR, else JWT_SECRET (HS*) or JWT_PUBLIC_KEY."""
    keys: dict[str, str] = {}
    for algorithm in algorithms:
        key = settings.jwt_secret if _is_symmetric(algorithm) else settings.jwt_public_key
        if settings.jwt_keys_dir:
            path = Path(settings.jwt_keys_dir) / jwt_key_files(algorithm)[0]
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                key = text.strip() if _is_symmetric(algorithm) else text
        if key:
            keys[algorithm] = key
    return keys


class TokenVerifier:
    """Checks bearer tokens: signature with a pinned algorithm, exp required and checked, issuer and audience."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        self.algorithms = _pinned(config)
        self.issuer = config.jwt_issuer
        self.audience = config.jwt_audience
        self.leeway = config.jwt_leeway
        self.keys = verifying_keys(self.algorithms, settings)
        self.jwks_file = Path(settings.jwt_jwks_file) if settings.jwt_jwks_file else None

    def _key(self, algorithm: str, kid: object) -> Any:
        """The key for a token: from the JWKS file by kid (its type fitting the algorithm), else by algorithm."""
        if self.jwks_file is None:
            key = self.keys.get(algorithm)
            if key is None:
                raise _unauthorized(f"The service has no key to verify {algorithm} tokens with.")
            return key
        if not isinstance(kid, str):
            raise jwt.InvalidTokenError("the token has no key id")
        try:
            found = jwt.PyJWKSet.from_dict(json.loads(self.jwks_file.read_text(encoding="utf-8")))[kid]
        except KeyError:
            raise jwt.InvalidTokenError("the token's key is not known") from None
        if found.key_type != _KEY_TYPES.get(algorithm[:2]) or found.algorithm_name != algorithm:
            raise jwt.InvalidTokenError("the token's algorithm does not fit its key")
        return found.key

    def verify(self, token: str | None) -> dict[str, Any]:
        """The token's claims, or a 401 Problem."""
        if not token:
            raise _unauthorized("A bearer token is required.")
        if not self.keys and not self.jwks_file:
            raise _unauthorized("The service has no key to verify tokens with (set JWT_PUBLIC_KEY or JWT_SECRET).")
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self.algorithms:
                raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
            key = self._key(algorithm, header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The bearer token is not valid: {exc}.") from None
        return claims


class TokenIssuer:
    """Signs tokens the way TokenVerifier checks them (for the service that logs users in)."""

    def __init__(self, config: ServiceConfig, settings: Settings) -> None:
        self.algorithm = _pinned(config)[0]
        self.issuer = config.jwt_issuer
        self.audience = config.jwt_audience
        self.ttl = settings.jwt_ttl_seconds
        self.key = settings.jwt_secret if _is_symmetric(self.algorithm) else settings.jwt_private_key
        self.kid = settings.jwt_kid
        # JWT_JWKS_FILE without JWT_KID: the key set rotates under a running service (`planforge up
        # --rotate-keys-every`), so each token is signed with its newest key, <kid>.key beside jwks.json.
        self.rotating = Path(settings.jwt_jwks_file) if settings.jwt_jwks_file and not settings.jwt_kid else None
        if _is_symmetric(self.algorithm) and not self.key:
            self.key = verifying_keys([self.algorithm], settings).get(self.algorithm)

    def _newest(self) -> tuple[str | bytes | None, str | None]:
        """The signing key and kid: the newest key of the rotating set for the algorithm, else the settings'."""
        if self.rotating is None or not self.rotating.is_file():
            return self.key, self.kid
        keys = json.loads(self.rotating.read_text(encoding="utf-8")).get("keys", [])
        current = [k for k in keys if k.get("alg") == self.algorithm and "planforge_retired" not in k]
        if not current:
            return self.key, self.kid
        kid = str(current[0]["kid"])
        secret = (self.rotating.parent / f"{kid}.key").read_bytes()
        return secret if _is_symmetric(self.algorithm) else secret.decode(), kid

    def issue(self, subject: str, **claims: Any) -> str:
        """A signed token for subject that expires after the configured time to live."""
        key, kid = self._newest()
        if not key:
            raise Problem(503, "The service has no key to sign tokens with (set JWT_PRIVATE_KEY or JWT_SECRET).")
        now = int(time.time())
        payload: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + self.ttl, **claims}
        if self.issuer:
            payload["iss"] = self.issuer
        if self.audience:
            payload["aud"] = self.audience
        headers = {"kid": kid} if kid else None
        return jwt.encode(payload, key, algorithm=self.algorithm, headers=headers)
