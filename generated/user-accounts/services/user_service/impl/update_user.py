"""update_user: Update a user profile (needs If-Match with the current ETag). (PUT /users/{userId})."""

from datetime import UTC, datetime
from uuid import UUID

from planforge_runtime import Context, Problem, Reply
from sqlalchemy import select, update

from .. import models
from .tables import to_user, users


async def handle(
    ctx: Context, *, user_id: UUID, body: models.UserUpdate
) -> models.User | Reply:
    """Change the display name (the runtime has checked If-Match against the current version).

    user.updated is staged in the update's transaction; the cached profile is dropped.
    """
    if ctx.claims is None or ctx.claims.get("sub") != str(user_id):
        raise Problem(404, "No user has this id.")  # others' profiles are not revealed
    async with ctx.session() as session, session.begin():
        query = select(users).where(users.c.id == user_id).with_for_update()
        row = (await session.execute(query)).one_or_none()
        if row is None:
            raise Problem(404, "No user has this id.")
        current = to_user(row)
        version = current.version + 1
        change = {"display_name": body.displayName, "version": version}
        await session.execute(
            update(users).where(users.c.id == user_id).values(**change)
        )
        updated = {
            "userId": str(user_id),
            "email": str(current.email),
            "displayName": body.displayName,
            "version": version,
            "updatedAt": datetime.now(UTC).isoformat(),
        }
        await ctx.stage(session, "user.updated", updated)
    user = current.model_copy(
        update={"displayName": body.displayName, "version": version}
    )
    await ctx.cache("user-profile").invalidate(str(user_id))
    return user
