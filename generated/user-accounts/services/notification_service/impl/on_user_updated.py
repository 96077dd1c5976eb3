"""on_user_updated: Tells the user their profile changed (user.updated from notification-queue)."""

from planforge_runtime.messaging import Envelope, EventContext

from .mailbox import send_email


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Email the user that their profile changed and publish notification.sent."""
    await send_email(event, ctx, "profile-updated")
