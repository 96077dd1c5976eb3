"""The notification-service's outbox of emails: a Redis list per user, newest first."""

import uuid
from datetime import UTC, datetime
from uuid import UUID

from planforge_runtime import Resources
from planforge_runtime.messaging import Envelope, EventContext

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


# One atomic step (a Lua script runs alone on the Redis server): the once-only marker and the history entry are
# written together or not at all, so a crash can never leave the marker without the record.
_RECORD_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


async def _record(resources: Resources, notification: models.Notification) -> None:
    """LPUSH the notification unless this ID was recorded already, in one atomic step."""
    prefix = resources.settings.redis_key_prefix
    marker = f"{prefix}notification-service:recorded:{notification.id}"
    key = history_key(prefix, notification.userId)
    await resources.redis.eval(
        _RECORD_ONCE, 2, marker, key, notification.model_dump_json(), str(7 * 24 * 3600)
    )
