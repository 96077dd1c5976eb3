"""get_user: Read a user profile. (GET /users/{userId})."""

from uuid import UUID

from planforge_runtime import Context, Problem, Reply
from sqlalchemy import select

from .. import models
from .tables import to_user, users


async def handle(ctx: Context, *, user_id: UUID) -> models.User | Reply:
    """Read the profile through the user-profile cache (cache-aside, TTL from the manifest)."""

    async def load() -> models.User | None:
        async with ctx.session() as session:
            query = select(users).where(users.c.id == user_id)
            row = (await session.execute(query)).one_or_none()
        return to_user(row) if row is not None else None

    user = await ctx.cache("user-profile").read_through(str(user_id), models.User, load)
    if user is None:
        raise Problem(404, "No user has this id.")
    return user  # the runtime adds the ETag of this version
