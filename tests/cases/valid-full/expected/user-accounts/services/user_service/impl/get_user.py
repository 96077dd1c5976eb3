# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_user: get_user (GET /users/{userId})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, user_id: str) -> models.UserProfile | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
