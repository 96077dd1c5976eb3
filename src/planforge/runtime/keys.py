"""Key pairs for the JWT algorithms a manifest may pin, in PEM (for planforge up and tests)."""

from __future__ import annotations

from typing import Any

__all__ = ["generate_key_pair", "jwt_key_files"]


def jwt_key_files(algorithm: str) -> tuple[str, str]:
    """File names of the (verifying, signing) keys of an algorithm in a key folder; HS* share one secret file.

    Services read the verifying ones from JWT_KEYS_DIR; planforge.stack.keys writes the same names (it keeps
    its own copy so that the command line does not import the runtime; a test checks that they agree).
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
