# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""list_orders: List the caller's orders, newest first. (GET /orders)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    limit: int | None,
    offset: int | None,
) -> models.OrderPage | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
