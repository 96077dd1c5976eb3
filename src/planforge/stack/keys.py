"""JWT keys for a stack: created once in the state folder, kept so that tokens survive restarts."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from planforge.conventions import jwt_key_files

__all__ = ["JwtKeys", "ensure_jwt_keys", "jwt_key_files"]

# --- JWT keys -----------------------------------------------------------------------------------------------


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
        _write(keys.public, secrets.token_hex(32).encode(), 0o644)
        return keys
    from planforge.runtime.keys import generate_key_pair  # the runtime (and cryptography) only when needed

    private, public = generate_key_pair(algorithm)
    _write(keys.private, private, 0o600)
    _write(keys.public, public, 0o644)
    return keys


def _write(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(mode)
