"""Names planforge's generated files and its stack agree on: key files, their variables, ports, formats.

Pure values and functions, so that targets, the model builder and ``planforge up`` share them without
importing each other.
"""

from __future__ import annotations

from planforge_runtime.keys import jwt_key_files  # one naming for the runtime, the stack and the targets

from planforge import __version__

__all__ = [
    "DEFAULT_LISTEN_PORT",
    "RUNTIME_REQUIREMENT",
    "STACK_FORMAT",
    "TESTKIT_REQUIREMENT",
    "jwt_key_files",
    "key_file_env",
]

# The gateway's port when its settings name none.
DEFAULT_LISTEN_PORT = 8080
# The version of deploy/stack.json that `planforge up` reads.
STACK_FORMAT = 2
# What generated services and their tests install: the runtime and test kit released with this planforge.
RUNTIME_REQUIREMENT = f"planforge-runtime=={__version__}"
TESTKIT_REQUIREMENT = f"planforge-testkit=={__version__}"


def key_file_env(algorithm: str) -> str:
    """The environment variable that names the key file for an algorithm: GATEWAY_JWT_RS256_KEY_FILE."""
    return f"GATEWAY_JWT_{algorithm}_KEY_FILE"
