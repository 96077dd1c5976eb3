"""The notification-service's outbox of emails: a Redis list per user, newest first."""

import uuid
from datetime import UTC, datetime
from uuid import UUID

from planforge.runtime import Resources
from planforge.runtime.messaging import Envelope, EventContext

from .. import models


def history_key(prefix: str, user_id: UUID | str) -> str:
    """The Redis list of a user's notifications, newest first."""
    return f"{prefix}notification-service:sent:{user_id}"


async def send_email(event: Envelope, ctx: EventContext, template: str) -> None:
    """'Send' an email to the event's user: record it once, then announce notification.sent.

    The notification's ID derives from the event's, so a retried delivery records nothing new.
    """
    assert ctx.resources is not None
    notification = models.Notification(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{template}:{event.event_id}"),
        userId=UUID(event.data["userId"]),
        channel="email",
        template=template,
        sentAt=datetime.now(UTC),
    )
    await _record(ctx.resources, notification)
    sent = {
        "notificationId": str(notification.id),
        "userId": str(notification.userId),
        "recipient": event.data["email"],
        "channel": notification.channel,
        "template": template,
        "sentAt": notification.sentAt.isoformat(),
    }
    await ctx.emit("notification.sent", sent)


async def _record(resources: Resources, notification: models.Notification) -> None:
    """LPUSH the notification unless this ID was recorded already."""
    prefix = resources.settings.redis_key_prefix
    marker = f"{prefix}notification-service:recorded:{notification.id}"
    if await resources.redis.set(marker, "1", nx=True, ex=7 * 24 * 3600):
        key = history_key(prefix, notification.userId)
        await resources.redis.lpush(key, notification.model_dump_json())
