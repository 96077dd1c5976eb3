"""login: Exchange email and password for a JWT. (POST /auth/login)."""

from planforge.runtime import Context, Problem, Reply
from planforge.runtime.passwords import hash_password, verify_password
from sqlalchemy import select

from .. import models
from .tables import credentials

# Checked when the email is unknown, so that both failures take as long.
_DECOY = hash_password("not the password of anyone")


async def handle(
    ctx: Context, *, body: models.LoginRequest
) -> models.TokenResponse | Reply:
    """Check the password against its scrypt hash and answer a signed JWT (401 otherwise)."""
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
    return models.TokenResponse(
        access_token=ctx.issue_token(str(row.user_id), email=str(body.email)),
        token_type="Bearer",
        expires_in=ctx.settings.jwt_ttl_seconds,
    )
