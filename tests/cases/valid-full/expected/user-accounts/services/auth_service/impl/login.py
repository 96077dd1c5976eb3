# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""login: login (POST /auth/login)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.LoginRequest) -> models.Token | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
