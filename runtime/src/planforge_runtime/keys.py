"""JWT keys for the algorithms a manifest may pin: file names, PEM pairs, and a key folder created once and kept.

planforge up, the compose file's key container and the tests create keys with ensure_jwt_keys.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JwtKeys", "ensure_jwt_keys", "generate_key_pair", "jwt_key_files", "write_key_file"]


def jwt_key_files(algorithm: str) -> tuple[str, str]:
    """File names of the (verifying, signing) keys of an algorithm in a key folder; HS* share one secret file.

    Services read the verifying ones from JWT_KEYS_DIR; ensure_jwt_keys writes them.
    """
    stem = f"jwt-{algorithm.lower()}"
    if algorithm.startswith("HS"):
        return f"{stem}.secret", f"{stem}.secret"
    return f"{stem}.pem", f"{stem}.key"


def generate_key_pair(algorithm: str) -> tuple[bytes, bytes]:
    """A fresh (private, public) PEM pair for an asymmetric JWT algorithm (RS*, ES*, EdDSA)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
    key: Any
    if algorithm in curves:
        key = ec.generate_private_key(curves[algorithm])
    elif algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@dataclass(frozen=True, slots=True)
class JwtKeys:
    """Key files for one algorithm: what verifiers read (public key or secret) and what the issuer signs with."""

    algorithm: str
    public: Path
    private: Path

    @property
    def symmetric(self) -> bool:
        """True for HS* algorithms: one shared secret in both files."""
        return self.algorithm.startswith("HS")


def ensure_jwt_keys(folder: Path | str, algorithm: str) -> JwtKeys:
    """The keys for algorithm in folder, created on first use and kept, so that tokens survive restarts."""
    folder = Path(folder)
    public_name, private_name = jwt_key_files(algorithm)
    keys = JwtKeys(algorithm, folder / public_name, folder / private_name)
    if keys.public.exists() and keys.private.exists():
        return keys
    folder.mkdir(parents=True, exist_ok=True)
    if keys.symmetric:
        # The gateway's workers read it too (as 'nobody' when nginx runs as root): readable, like the public key.
        write_key_file(keys.public, secrets.token_hex(32).encode(), 0o644)
        return keys
    private, public = generate_key_pair(algorithm)
    write_key_file(keys.private, private, 0o600)
    write_key_file(keys.public, public, 0o644)
    return keys


def write_key_file(path: Path, data: bytes, mode: int) -> None:
    """Write a key file afresh with mode (never through an existing file or link)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(mode)
