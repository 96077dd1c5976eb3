"""set_credentials: Create the credentials of a user being registered (PUT /credentials/{userId}).

Only user-service calls it, while it registers the user: the password reaches auth-service
here and nowhere else (no event carries it or its hash).
"""

from datetime import UTC, datetime
from uuid import UUID

from planforge_runtime import Context, Problem, Reply
from planforge_runtime.passwords import hash_password
from sqlalchemy.exc import IntegrityError

from .. import models
from . import add_credentials


async def handle(
    ctx: Context,
    *,
    user_id: UUID,
    body: models.CredentialsRequest,
) -> None | Reply:
    """Store a scrypt hash of the password and announce auth.created; 409 if they exist.

    Create-only: the route needs no token (the user has none yet), so credentials that
    exist for this id or this email are never replaced. The row and auth.created share
    one transaction (the outbox): the event is published if and only if the row exists.
    """
    email = str(body.email).lower()
    created = datetime.now(UTC).replace(microsecond=0)
    auth = models.AuthCreated(userId=user_id, email=email, createdAt=created)
    try:
        async with ctx.session() as session, session.begin():
            if not await add_credentials(
                session, user_id, email, hash_password(body.password.get_secret_value())
            ):
                raise Problem(409, "Credentials exist for this user already.")
            await ctx.stage(session, auth)
    except IntegrityError:
        raise Problem(
            409, "Credentials exist for this email address already."
        ) from None
    return None
