"""on_notification_sent: Records that the welcome email went out (notification.sent from user-service-queue)."""

import logging

from planforge_runtime.messaging import Envelope, EventContext

_log = logging.getLogger("user_service.events")


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Log the notification (the profile keeps no field for it yet)."""
    data = event.data
    _log.info(
        "%s %s sent to user %s", data["channel"], data["template"], data["userId"]
    )
