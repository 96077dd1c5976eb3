"""ETags for routes with ``concurrency: etag``: the version a read shows, and If-Match checked on updates.

The ETag of a resource is a strong validator computed from the JSON its read route answers (a hash of the
canonical JSON), so every service gets the same mechanism without writing any code for it. An update must
send ``If-Match`` naming the current ETag: 428 when it is missing, 412 when it names another version. The
check and the update run under a lock per resource, so two updates with the same If-Match cannot both win
in one service process (with several replicas, the handler's own transaction must still guard the row).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["ResourceLocks", "etag_of", "if_match_names"]


def etag_of(data: Any) -> str:
    """The strong ETag of a JSON value: a hash of its canonical form, quoted."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def if_match_names(header: str, etag: str) -> bool:
    """Does an If-Match header name etag (strong comparison; '*' names any current version)?"""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags


class ResourceLocks:
    """One asyncio lock per resource key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of key for the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
