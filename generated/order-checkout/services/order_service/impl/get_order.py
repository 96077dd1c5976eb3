# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_order: Read one order and its saga status. (GET /orders/{orderId})."""

from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, order_id: UUID) -> models.Order | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
