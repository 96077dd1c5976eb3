"""The broker side of end-to-end tests: an event tap on every exchange, and a TCP proxy that can cut the link.

Both run on a background event loop (``LoopThread``), so that synchronous tests can use them. The shared broker
is never stopped: an outage is the proxy dropping every connection and refusing new ones.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["EventTap", "LoopThread", "TcpProxy"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; run() waits for a coroutine scheduled on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="e2e-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run coroutine on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class EventTap:
    """An exclusive, auto-delete queue bound to every exchange of the feature, recording each envelope it sees."""

    def __init__(self, loop: LoopThread, url: str, exchanges: Sequence[Mapping[str, Any]]) -> None:
        self.loop, self.url, self.exchanges = loop, url, exchanges
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._connection: Any = None

    def start(self) -> None:
        """Connect, declare the tap queue, bind it and start consuming (a feature without exchanges has no broker
        vhost to connect to, and nothing to tap)."""
        if self.exchanges:
            self.loop.run(self._start())

    def close(self) -> None:
        """Close the connection (the queue goes with it)."""
        if self._connection is not None:
            self.loop.run(self._connection.close())

    async def _start(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(self.url, timeout=10)
        channel = await self._connection.channel()
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for exchange in self.exchanges:
            for key in _binding_keys(exchange):
                await queue.bind(exchange["name"], key, arguments=_binding_arguments(exchange))
        await queue.consume(self._record, no_ack=True)

    async def _record(self, message: Any) -> None:
        try:
            envelope = json.loads(message.body)
        except ValueError:
            envelope = {"unreadable": message.body.decode(errors="replace")}
        with self._lock:
            self.envelopes.append(envelope)

    def seen(self, event: str, correlation_id: str) -> list[dict[str, Any]]:
        """The envelopes of event carrying correlation_id, so far."""
        with self._lock:
            return [
                e for e in self.envelopes if e.get("eventType") == event and e.get("correlationId") == correlation_id
            ]

    def wait_for(self, event: str, correlation_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first envelope of event with correlation_id; AssertionError naming what was seen when none comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.seen(event, correlation_id)
            if found:
                return found[0]
            time.sleep(0.05)
        with self._lock:
            others = sorted({f"{e.get('eventType')} ({e.get('correlationId')})" for e in self.envelopes})
        raise AssertionError(f"no {event} with correlation ID {correlation_id} within {timeout:g}s; tap saw {others}")


def _binding_keys(exchange: Mapping[str, Any]) -> list[str]:
    """'#' on a topic exchange, '' on fanout and headers, each known routing key on a direct exchange."""
    kind = exchange["type"]
    if kind == "topic":
        return ["#"]
    if kind == "direct":
        return sorted(set(exchange.get("routing_keys", [])))
    return [""]


def _binding_arguments(exchange: Mapping[str, Any]) -> dict[str, Any] | None:
    return {"x-match": "any"} if exchange["type"] == "headers" else None


class TcpProxy:
    """Forwards a local port to the broker; cut() drops every connection and refuses new ones until restore()."""

    def __init__(self, loop: LoopThread, host: str = "127.0.0.1", port: int = 5672) -> None:
        self.loop = loop
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self.loop.run(self._listen())

    def cut(self) -> int:
        """Stop listening and abort every open connection; how many connections (both sides) were open."""
        return self.loop.run(self._cut())

    def restore(self) -> None:
        """Accept connections again."""
        if self._server is None:
            self.start()

    def close(self) -> None:
        """Cut everything."""
        self.cut()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> int:
        if self._server is not None:
            self._server.close()
            self._server = None
        links = list(self._links)
        for writer in links:
            writer.transport.abort()
        self._links.clear()
        return len(links)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
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
