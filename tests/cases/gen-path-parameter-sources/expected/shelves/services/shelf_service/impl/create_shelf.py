# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""create_shelf: create_shelf (POST /shelves)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.NewShelf) -> models.Shelf | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
