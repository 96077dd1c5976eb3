"""The datastores a stack needs: databases created, Redis pinged, vhost and topology declared."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from planforge.stack.spec import StackError

__all__ = ["create_databases", "declare_topology", "ensure_vhost", "ping_redis"]

# --- infrastructure -----------------------------------------------------------------------------------------


async def create_databases(admin_url: str, names: list[str]) -> list[str]:
    """Create the databases that are missing; the ones created."""
    import asyncpg  # type: ignore[import-untyped]

    created = []
    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        for name in names:
            if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                continue
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
            except asyncpg.DuplicateDatabaseError:  # created meanwhile by another run
                pass
    finally:
        await connection.close()
    return created


def ping_redis(url: str) -> str:
    """PING the Redis server; nothing to report when it answers."""
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    finally:
        client.close()
    return ""


def ensure_vhost(amqp_url: str, vhost: str) -> str:
    """Create vhost with rabbitmqctl (and let the URL's user use it); what was done, for the progress line."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return f"rabbitmqctl not found: vhost {vhost!r} is used as is (create it if it is missing)"
    listed = _ctl(ctl, "--formatter", "json", "list_vhosts", "name")
    if vhost in {row["name"] for row in json.loads(listed or "[]")}:
        return f"vhost {vhost!r} exists"
    user = urlsplit(amqp_url).username or "guest"
    _ctl(ctl, "add_vhost", vhost)
    _ctl(ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    return f"vhost {vhost!r} created"


def _ctl(ctl: str, *args: str) -> str:
    done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise StackError(f"rabbitmqctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


async def declare_topology(url: str, definitions: Mapping[str, list[dict[str, Any]]]) -> None:
    """Declare the exchanges, queues and bindings of broker/definitions.json in the URL's vhost."""
    import aio_pika

    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        targets: dict[tuple[str, str], Any] = {}
        for e in definitions["exchanges"]:
            targets["exchange", e["name"]] = await channel.declare_exchange(
                e["name"],
                e["type"],
                durable=e["durable"],
                auto_delete=e["auto_delete"],
                internal=e["internal"],
                arguments=e["arguments"] or None,
            )
        for q in definitions["queues"]:
            targets["queue", q["name"]] = await channel.declare_queue(
                q["name"], durable=q["durable"], auto_delete=q["auto_delete"], arguments=q["arguments"] or None
            )
        for b in definitions["bindings"]:
            target = targets[b["destination_type"], b["destination"]]
            await target.bind(b["source"], b["routing_key"], arguments=b["arguments"] or None)
