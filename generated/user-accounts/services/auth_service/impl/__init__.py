"""Handlers of Auth Service: one module per operation, each with `async def handle`.

add_credentials() is what set_credentials.py (called by user-service while it registers a user)
uses to let a new user sign in. The credentials table (tables.py) comes from migrations/auth_service_0001_initial.py.
"""

from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import credentials


async def add_credentials(
    session: AsyncSession, user_id: UUID, email: str, password_hash: str
) -> bool:
    """Record how a user signs in, in session's transaction; False if they exist already."""
    query = select(credentials.c.user_id).where(credentials.c.user_id == user_id)
    if (await session.execute(query)).first() is not None:
        return False
    row = {"user_id": user_id, "email": email.lower(), "password_hash": password_hash}
    await session.execute(insert(credentials).values(**row))
    return True
