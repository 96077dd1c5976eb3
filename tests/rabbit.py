"""Helpers for tests against the real RabbitMQ: a fresh vhost per test, and a TCP proxy that can cut the link.

The shared broker is never stopped and no firewall rule is touched: outages are made by the proxy, which sits
between the code under test and 127.0.0.1:5672 and can drop every connection and refuse new ones.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["AMQP_HOST", "AMQP_PORT", "TcpProxy", "amqp_url", "fresh_vhost", "rabbitmqctl"]

AMQP_HOST = "127.0.0.1"
AMQP_PORT = 5672


def amqp_url(vhost: str, port: int = AMQP_PORT) -> str:
    """The guest URL of a vhost, on the broker or on a proxy's port."""
    return f"amqp://guest:guest@{AMQP_HOST}:{port}/{vhost}"


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl quietly; fails with its output when it fails."""
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not installed")
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def fresh_vhost(prefix: str = "planforge-test") -> Iterator[str]:
    """A new, empty vhost with a unique name that guest may use; deleted afterwards, whatever happened."""
    name = f"{prefix}-{uuid.uuid4().hex}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        rabbitmqctl("delete_vhost", name)


class TcpProxy:
    """Forwards a local port to the broker; cut() drops every connection and refuses new ones until restore()."""

    def __init__(self, host: str = AMQP_HOST, port: int = AMQP_PORT) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._accept, AMQP_HOST, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, vhost: str) -> str:
        """The AMQP URL of a vhost through the proxy."""
        return amqp_url(vhost, self.port)

    async def cut(self) -> None:
        """Stop listening (new connections are refused) and abort every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        """Accept connections again."""
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        """Cut everything and wait for the forwarding tasks to end."""
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._links |= {client_writer, broker_writer}
        await asyncio.gather(_pipe(client_reader, broker_writer), _pipe(broker_reader, client_writer))
        self._links -= {client_writer, broker_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until either side goes away, then abort the other side too."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()
