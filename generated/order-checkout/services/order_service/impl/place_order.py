# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""place_order: Place an order; it is confirmed or cancelled asynchronously. (POST /orders)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.PlaceOrder) -> models.Order | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
