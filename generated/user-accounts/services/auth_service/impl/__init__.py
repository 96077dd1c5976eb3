"""Handlers of Auth Service: one module per operation, each with `async def handle`.

startup() creates the credentials table; add_credentials() is what the consumer of
user.created (on_user_created.py) calls to let a new user sign in.
"""

from uuid import UUID

from planforge.runtime import Resources
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import credentials, metadata


async def startup(resources: Resources) -> None:
    """Create the tables if they are missing."""
    async with resources.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


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
