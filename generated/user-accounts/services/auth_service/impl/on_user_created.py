"""on_user_created: Creates the authentication record for the new user (user.created from auth-service-queue)."""

from datetime import UTC, datetime
from uuid import UUID

from planforge_runtime.messaging import Envelope, EventContext

from . import add_credentials


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Store the new user's credentials and announce them with auth.created.

    Both happen in the delivery's transaction (ctx.session), with the record that the
    event was processed, so a redelivered user.created has its effect once.
    """
    assert ctx.session is not None  # auth-service owns auth-db
    data = event.data
    await add_credentials(
        ctx.session, UUID(data["userId"]), data["email"], data["passwordHash"]
    )
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    auth = {"userId": data["userId"], "email": data["email"], "createdAt": created}
    await ctx.emit("auth.created", auth)
