"""JWT keys for a stack: created once in the state folder, kept so that tokens survive restarts."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from planforge_runtime.keys import JwtKeys, ensure_jwt_keys, jwt_key_files, write_key_file

__all__ = ["JWKS_FILE", "JwtKeys", "current_kid", "ensure_jwt_keys", "jwt_key_files", "rotate_jwt_keys"]

# The key set of a rotating folder: the verifying keys (public JWKs, or the shared secret for HS*) with kids.
JWKS_FILE = "jwks.json"

# --- JWT keys -----------------------------------------------------------------------------------------------


# --- rotation -----------------------------------------------------------------------------------------------


def rotate_jwt_keys(folder: Path | str, algorithm: str, *, token_lifetime: float, now: float | None = None) -> str:
    """Add a new signing key to folder's key set and drop keys retired more than a token lifetime ago.

    The new key signs from now on (its private half is ``<kid>.key``, returned kid first in jwks.json); the
    key it replaces stays in jwks.json, marked retired, so that tokens it signed still pass until they expire.
    Gateway (GATEWAY_JWT_JWKS_FILE) and services (JWT_JWKS_FILE) read jwks.json on every token.
    """
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    moment = time.time() if now is None else now
    jwks = folder / JWKS_FILE
    keys: list[dict[str, object]] = json.loads(jwks.read_text(encoding="utf-8"))["keys"] if jwks.exists() else []
    kept = []
    for key in keys:
        retired = key.get("planforge_retired")
        if isinstance(retired, (int, float)) and retired + token_lifetime <= moment:
            (folder / f"{key['kid']}.key").unlink(missing_ok=True)
            continue
        if retired is None and key.get("alg") == algorithm:
            key["planforge_retired"] = moment
        kept.append(key)
    kid = f"{algorithm.lower()}-{int(moment)}-{secrets.token_hex(4)}"
    public, private = _new_jwk(algorithm, kid)
    write_key_file(folder / f"{kid}.key", private, 0o600)
    # Readers open jwks.json on every token: the new set replaces the old one in one rename, never half-written.
    staged = folder / f".{JWKS_FILE}.new"
    write_key_file(staged, (json.dumps({"keys": [public, *kept]}, indent=2) + "\n").encode(), 0o644)
    os.replace(staged, jwks)
    return kid


def current_kid(folder: Path | str, algorithm: str) -> str | None:
    """The kid that signs algorithm's tokens in folder's key set (the newest key not retired), if any."""
    import json

    jwks = Path(folder) / JWKS_FILE
    if not jwks.exists():
        return None
    keys = json.loads(jwks.read_text(encoding="utf-8"))["keys"]
    return next((str(k["kid"]) for k in keys if k.get("alg") == algorithm and "planforge_retired" not in k), None)


def _new_jwk(algorithm: str, kid: str) -> tuple[dict[str, object], bytes]:
    """A fresh key as (its verifying JWK, its signing key: PEM, or the secret for HS*)."""
    import base64

    if algorithm.startswith("HS"):
        secret = secrets.token_hex(32).encode()
        k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
        return {"kty": "oct", "kid": kid, "alg": algorithm, "use": "sig", "k": k}, secret
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm
    from planforge_runtime.keys import generate_key_pair

    private, public_pem = generate_key_pair(algorithm)
    key = load_pem_public_key(public_pem)
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}, private
