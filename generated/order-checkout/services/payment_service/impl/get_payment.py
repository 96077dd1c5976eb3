# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_payment: Read one payment. (GET /payments/{paymentId})."""

from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, payment_id: UUID) -> models.Payment | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
