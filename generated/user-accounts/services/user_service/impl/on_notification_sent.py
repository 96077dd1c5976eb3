"""on_notification_sent: Records that the welcome email went out (notification.sent from user-service-queue)."""

import logging

from planforge_runtime.messaging import EventContext

from .. import models

_log = logging.getLogger("user_service.events")


async def handle(event: models.NotificationSent, ctx: EventContext) -> None:
    """Log the notification (the profile keeps no field for it yet)."""
    _log.info("%s %s sent to user %s", event.channel, event.template, event.userId)
