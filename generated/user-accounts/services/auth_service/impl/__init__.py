"""Handlers of Auth Service: one module per operation, each with `async def handle`.

startup() creates the credentials table; add_credentials() is what the consumer of
user.created calls to let a new user sign in.
"""

from uuid import UUID

from planforge.runtime import Resources
from sqlalchemy import insert

from .tables import credentials, metadata


async def startup(resources: Resources) -> None:
    """Create the tables if they are missing."""
    async with resources.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


async def add_credentials(
    resources: Resources, user_id: UUID, email: str, password_hash: str
) -> None:
    """Record how a user signs in."""
    row = {"user_id": user_id, "email": email.lower(), "password_hash": password_hash}
    async with resources.session() as session, session.begin():
        await session.execute(insert(credentials).values(**row))
