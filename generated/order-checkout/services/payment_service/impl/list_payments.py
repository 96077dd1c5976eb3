# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""list_payments: List the payments of an order. (GET /payments)."""

from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    order_id: UUID,
    limit: int | None,
) -> models.PaymentPage | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
