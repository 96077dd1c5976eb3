# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""on_stock_reserved: Marks the order RESERVED (stock.reserved from order-service-queue)."""

from planforge_runtime.messaging import EventContext

from .. import models


async def handle(event: models.StockReserved, ctx: EventContext) -> None:
    """Handle one stock.reserved: event is its data as a model, ctx.envelope the whole envelope.

    ctx.emit(models.<Event>(...)) publishes a follow-up. An unimplemented consumer (this
    stub) fails every delivery: the message is retried with the manifest's backoff, then
    kept in the queue's dead letter queue, so nothing is lost. It runs once per eventId;
    with a database, ctx.session is the transaction it commits in.
    """
    raise NotImplementedError
