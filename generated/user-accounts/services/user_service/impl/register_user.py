"""register_user: Register a new user. (POST /users/register)."""

import os
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
from planforge_runtime import Context, Problem, Reply
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from .. import models
from .tables import users

_UNAVAILABLE = "Sign-in cannot be set up right now; try again later."


async def handle(
    ctx: Context, *, body: models.RegistrationRequest
) -> models.User | Reply:
    """Store the new user and have auth-service set their credentials; 409 if the email is taken.

    The password goes to auth-service alone, in the set_credentials call (user-service
    keeps no hash, and user.created carries none). The call happens inside the insert's
    transaction, so a user whose credentials could not be set is rolled back (503), and
    user.created goes into the outbox in that transaction: it is published if and only
    if the user exists.
    """
    user = models.User(
        id=uuid4(),
        email=body.email,
        displayName=body.displayName,
        createdAt=datetime.now(UTC),
        version=1,
    )
    email = str(user.email).lower()
    row = {
        "id": user.id,
        "email": email,
        "display_name": user.displayName,
        "created_at": user.createdAt,
        "version": user.version,
    }
    created = models.UserCreated(
        userId=user.id,
        email=email,
        displayName=user.displayName,
        createdAt=user.createdAt,
    )
    try:
        async with ctx.session() as session, session.begin():
            await session.execute(
                insert(users).values(**row)
            )  # a taken email fails here
            password = body.password.get_secret_value()
            await _set_credentials(ctx, user.id, email, password)
            await ctx.stage(session, created)
    except IntegrityError:
        raise Problem(409, "A user with this email address exists already.") from None
    return Reply(body=user, status=201)


async def _set_credentials(
    ctx: Context, user_id: UUID, email: str, password: str
) -> None:
    """PUT the credentials to auth-service (AUTH_SERVICE_URL); 503 when that fails."""
    base = os.environ.get("AUTH_SERVICE_URL", "http://127.0.0.1:8001")
    credentials = {"email": email, "password": password}
    try:
        answer = await ctx.http.put(f"{base}/credentials/{user_id}", json=credentials)
    except httpx.TransportError:  # unreachable, timed out, or the circuit is open
        raise Problem(503, _UNAVAILABLE) from None
    if answer.status_code == 409:
        raise Problem(409, "A user with this email address exists already.")
    if answer.status_code != 204:
        raise Problem(503, _UNAVAILABLE)
