"""on_user_created: Sends the welcome email (user.created from notification-queue)."""

from planforge_runtime.messaging import Envelope, EventContext

from .mailbox import send_email


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Send the new user the welcome email and publish notification.sent."""
    await send_email(event, ctx, "welcome")
