# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""issue_token: Exchange a customer's email and password for a JWT. (POST /auth/token)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    body: models.TokenRequest,
) -> models.TokenResponse | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
