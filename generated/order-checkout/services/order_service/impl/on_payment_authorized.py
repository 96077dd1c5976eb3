# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""on_payment_authorized: Marks the order CONFIRMED and publishes order.confirmed (payment.authorized from order-service-queue)."""

from planforge_runtime.messaging import Envelope, EventContext


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Handle one payment.authorized; event.data matches its schema, ctx.emit() publishes follow-ups.

    An unimplemented consumer (this stub) fails every delivery: the message is retried with
    the manifest's backoff, then kept in the queue's dead letter queue, so nothing is lost.
    It runs once per eventId; with a database, ctx.session is the transaction it commits in.
    """
    raise NotImplementedError
