"""The stack of an e2e session on the shared servers: names no other run uses, removed afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["discard", "free_port", "isolated_options_kwargs", "required", "through_port"]


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def through_port(url: str, port: int) -> str:
    """url with its host and port replaced by 127.0.0.1:port (credentials and vhost kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return parts._replace(netloc=f"{credentials}127.0.0.1:{port}").geturl()


def isolated_options_kwargs() -> dict[str, object]:
    """Fresh vhost, database prefix, Redis prefix, state folder and ports for planforge.stack.Options."""
    token = uuid.uuid4().hex[:12]
    state = Path(tempfile.mkdtemp(prefix="planforge-e2e-"))
    state.chmod(0o755)  # nginx workers (user nobody when run as root) read the public key in it
    return {
        "state": state,
        "vhost": f"planforge-e2e-{token}",
        "db_prefix": f"pf_e2e_{token}_",
        "redis_prefix": f"pf-e2e-{token}:",
        "free_ports": True,
        "port": free_port(),
        # PLANFORGE_E2E_MTLS=1: the whole suite over mutual TLS (`planforge up --mtls`), whatever the manifest says.
        "mtls": os.environ.get("PLANFORGE_E2E_MTLS") == "1",
    }


def discard(databases: list[str], postgres_url: str, vhost: str, redis_url: str, redis_prefix: str) -> None:
    """Drop the databases, delete the vhost and the Redis keys of a finished session; each step whatever happened."""
    try:
        asyncio.run(_drop_databases(postgres_url, databases))
    finally:
        try:
            if shutil.which("rabbitmqctl"):
                command = ["rabbitmqctl", "-q", "delete_vhost", vhost]  # the broker's CLI, found on PATH
                subprocess.run(command, capture_output=True, timeout=60, check=False)  # nosec B607
        finally:
            asyncio.run(_drop_keys(redis_url, redis_prefix))


async def _drop_databases(admin_url: str, names: list[str]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _drop_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def required() -> bool:
    """PLANFORGE_E2E_REQUIRE=1 turns the skips for missing programs or servers into failures (CI)."""
    return os.environ.get("PLANFORGE_E2E_REQUIRE") == "1"
