"""list_notifications: List the notifications sent to a user, newest first. (GET /notifications/{userId})."""

from uuid import UUID

from planforge_runtime import Context, Problem, Reply

from .. import models
from .mailbox import history_key


async def handle(
    ctx: Context,
    *,
    user_id: UUID,
    limit: int | None,
    offset: int | None,
) -> models.NotificationPage | Reply:
    """A page of the user's notifications; a user may only read their own."""
    if ctx.claims is None or ctx.claims.get("sub") != str(user_id):
        raise Problem(404, "No notifications for this user.")
    size, start = limit or 20, offset or 0
    key = history_key(ctx.settings.redis_key_prefix, user_id)
    items = await ctx.redis.lrange(key, start, start + size - 1)
    notifications = [models.Notification.model_validate_json(item) for item in items]
    return models.NotificationPage(items=notifications, limit=size, offset=start)
