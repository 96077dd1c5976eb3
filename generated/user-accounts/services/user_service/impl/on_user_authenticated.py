"""on_user_authenticated: Updates the last login timestamp (user.authenticated from user-service-queue)."""

import asyncio
from typing import Any

from planforge_runtime import CacheAside
from planforge_runtime.messaging import EventContext
from sqlalchemy import event as orm_event
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import models
from .tables import users

_pending: set[asyncio.Task[None]] = set()


async def handle(event: models.UserAuthenticated, ctx: EventContext) -> None:
    """Set lastLoginAt to when the user signed in; the cached profile is dropped after the commit
    (dropping it before could let a read cache the old row again)."""
    assert ctx.session is not None and ctx.resources is not None
    await ctx.session.execute(
        update(users)
        .where(users.c.id == event.userId)
        .values(last_login_at=event.authenticatedAt)
    )
    _invalidate_after_commit(
        ctx.session, ctx.resources.cache("user-profile"), str(event.userId)
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
