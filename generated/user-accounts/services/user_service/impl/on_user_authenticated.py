"""on_user_authenticated: Updates the last login timestamp (user.authenticated from user-service-queue)."""

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

from planforge_runtime import CacheAside
from planforge_runtime.messaging import Envelope, EventContext
from sqlalchemy import event as orm_event
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import users

_pending: set[asyncio.Task[None]] = set()


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Set lastLoginAt to when the user signed in; the cached profile is dropped after the commit
    (dropping it before could let a read cache the old row again)."""
    assert ctx.session is not None and ctx.resources is not None
    user_id = UUID(event.data["userId"])
    moment = datetime.fromisoformat(event.data["authenticatedAt"])
    await ctx.session.execute(
        update(users).where(users.c.id == user_id).values(last_login_at=moment)
    )
    _invalidate_after_commit(
        ctx.session, ctx.resources.cache("user-profile"), str(user_id)
    )


def _invalidate_after_commit(
    session: AsyncSession, cache: CacheAside, key: str
) -> None:
    loop = asyncio.get_running_loop()

    def drop(_: Any) -> None:
        task = loop.create_task(cache.invalidate(key))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    orm_event.listen(session.sync_session, "after_commit", drop, once=True)
