"""A real HTTP port in front of an app that a TestClient runs, so that another service can call it over the network.

The app keeps the TestClient's event loop and lifespan (its database, its consumers); uvicorn, in a thread,
forwards each request to the TestClient and its answer back. Service-to-service calls (`calls`) are made by
the caller's own HTTP client, so they need a URL: the bridge's.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

__all__ = ["serving", "serving_as"]


def _forwarder(client: TestClient):  # type: ignore[no-untyped-def]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k.lower() != b"host"]
        answer = await asyncio.to_thread(
            client.request, scope["method"], target, content=body, headers=headers, follow_redirects=False
        )
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.multi_items()]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": answer.content})

    return app


@contextmanager
def serving(client: TestClient) -> Iterator[str]:
    """The base URL of a local HTTP port that forwards to client's app, for as long as the block runs."""
    config = uvicorn.Config(_forwarder(client), host="127.0.0.1", port=0, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the HTTP bridge did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@contextmanager
def serving_as(variable: str, client: TestClient) -> Iterator[str]:
    """serving(client), with its URL in the environment variable callers read (AUTH_SERVICE_URL, ...)."""
    with serving(client) as url:
        before = os.environ.get(variable)
        os.environ[variable] = url
        try:
            yield url
        finally:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before
