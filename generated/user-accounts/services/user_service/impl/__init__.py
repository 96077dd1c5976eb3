"""Handlers of User Service: one module per operation, each with `async def handle`.

startup() creates the tables the handlers use, in DATABASE_URL (PostgreSQL in
production, a local SQLite file by default).
"""

from planforge.runtime import Resources

from .tables import metadata


async def startup(resources: Resources) -> None:
    """Create the tables if they are missing."""
    async with resources.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
