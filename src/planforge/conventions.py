"""Names planforge's generated files and its stack agree on: key files, their variables, ports, formats.

Pure values and functions, so that targets, the model builder and ``planforge up`` share them without
importing each other.
"""

from __future__ import annotations

__all__ = ["DEFAULT_LISTEN_PORT", "STACK_FORMAT", "jwt_key_files", "key_file_env"]

# The gateway's port when its settings name none.
DEFAULT_LISTEN_PORT = 8080
# The version of deploy/stack.json that `planforge up` reads.
STACK_FORMAT = 2


def jwt_key_files(algorithm: str) -> tuple[str, str]:
    """File names of the (public, private) keys of an algorithm; HS* algorithms have one secret file."""
    stem = f"jwt-{algorithm.lower()}"
    if algorithm.startswith("HS"):
        return f"{stem}.secret", f"{stem}.secret"
    return f"{stem}.pem", f"{stem}.key"


def key_file_env(algorithm: str) -> str:
    """The environment variable that names the key file for an algorithm: GATEWAY_JWT_RS256_KEY_FILE."""
    return f"GATEWAY_JWT_{algorithm}_KEY_FILE"
