"""on_user_created: Sends the welcome email (user.created from notification-queue)."""

from planforge_runtime.messaging import EventContext

from .. import models
from .mailbox import send_email


async def handle(event: models.UserCreated, ctx: EventContext) -> None:
    """Send the new user the welcome email and publish notification.sent."""
    await send_email(event, ctx, "welcome")
