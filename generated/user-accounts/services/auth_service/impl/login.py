"""login: Exchange email and password for a JWT. (POST /auth/login)."""

from datetime import UTC, datetime
from typing import Any

from planforge_runtime import Context, Problem, Reply
from planforge_runtime.passwords import hash_password, verify_password
from sqlalchemy import select

from .. import models
from .tables import credentials

# Checked when the email is unknown, so that both failures take as long.
_DECOY = hash_password("not the password of anyone")


async def handle(
    ctx: Context, *, body: models.LoginRequest
) -> models.TokenResponse | Reply:
    """Check the password against its scrypt hash and answer a signed JWT (401 otherwise).

    A successful sign-in publishes user.authenticated (through auth-service's outbox).
    """
    async with ctx.session() as session:
        query = select(credentials).where(
            credentials.c.email == str(body.email).lower()
        )
        row = (await session.execute(query)).one_or_none()
    matches = verify_password(body.password, row.password_hash if row else _DECOY)
    if row is None or not matches:
        raise Problem(
            401,
            "The email or the password is wrong.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await ctx.publish("user.authenticated", _authenticated(ctx, str(row.user_id)))
    return models.TokenResponse(
        access_token=ctx.issue_token(str(row.user_id), email=str(body.email)),
        # the OAuth token type, not a password (bandit B106)
        token_type="Bearer",  # nosec B106
        expires_in=ctx.settings.jwt_ttl_seconds,
    )


def _authenticated(ctx: Context, user_id: str) -> dict[str, Any]:
    """The data of user.authenticated (the client's address when it is known)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data: dict[str, Any] = {"userId": user_id, "authenticatedAt": now}
    client = ctx.request.client
    if client is not None and 2 <= len(client.host) <= 45:
        data["clientIp"] = client.host
    return data
