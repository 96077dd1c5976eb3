# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_rover: get_rover (GET /rovers)."""

from planforge_runtime import Context, Reply


async def handle(ctx: Context) -> None | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
