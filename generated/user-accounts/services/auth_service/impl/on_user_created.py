"""on_user_created: Creates the authentication record for the new user (user.created from auth-service-queue)."""

from datetime import UTC, datetime

from planforge_runtime.messaging import EventContext

from .. import models
from . import add_credentials


async def handle(event: models.UserCreated, ctx: EventContext) -> None:
    """Store the new user's credentials and announce them with auth.created.

    Both happen in the delivery's transaction (ctx.session), with the record that the
    event was processed, so a redelivered user.created has its effect once.
    """
    assert ctx.session is not None  # auth-service owns auth-db
    await add_credentials(ctx.session, event.userId, event.email, event.passwordHash)
    created = datetime.now(UTC).replace(microsecond=0)
    await ctx.emit(
        models.AuthCreated(userId=event.userId, email=event.email, createdAt=created)
    )
