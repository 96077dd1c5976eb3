# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_stock_level: Read the available and reserved quantity of a SKU. (GET /stock/{sku})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, sku: str) -> models.StockLevel | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
