"""register_user: Register a new user. (POST /users/register)."""

from datetime import UTC, datetime
from uuid import uuid4

from planforge_runtime import Context, Problem, Reply
from planforge_runtime.passwords import hash_password
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from .. import models
from .tables import users


async def handle(
    ctx: Context, *, body: models.RegistrationRequest
) -> models.User | Reply:
    """Store the new user with a scrypt hash of the password; 409 if the email is taken.

    user.created goes into the outbox in the same transaction as the insert, so the
    event is published if and only if the user exists.
    """
    user = models.User(
        id=uuid4(),
        email=body.email,
        displayName=body.displayName,
        createdAt=datetime.now(UTC),
        version=1,
    )
    row = {
        "id": user.id,
        "email": str(user.email).lower(),
        "display_name": user.displayName,
        "password_hash": hash_password(body.password),
        "created_at": user.createdAt,
        "version": user.version,
    }
    created = {
        "userId": str(user.id),
        "email": row["email"],
        "displayName": user.displayName,
        "passwordHash": row["password_hash"],
        "createdAt": user.createdAt.isoformat(),
    }
    try:
        async with ctx.session() as session, session.begin():
            await session.execute(insert(users).values(**row))
            await ctx.stage(session, "user.created", created)
    except IntegrityError:
        raise Problem(409, "A user with this email address exists already.") from None
    return Reply(body=user, status=201)
