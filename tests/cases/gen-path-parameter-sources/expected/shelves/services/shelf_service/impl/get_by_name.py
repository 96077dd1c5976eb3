# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_by_name: get_by_name (GET /names/{shelfName})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, shelf_name: str) -> models.Shelf | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
