# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""put_bin: put_bin (PUT /bins/{binId})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, bin_id: str) -> models.Shelf | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
