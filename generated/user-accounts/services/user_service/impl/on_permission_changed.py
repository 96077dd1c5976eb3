"""on_permission_changed: Evicts the user's cached permissions (permission.changed from user-service-queue)."""

from planforge_runtime.messaging import Envelope, EventContext


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Drop the user's entry from the permissions cache."""
    assert ctx.resources is not None
    await ctx.resources.cache("permissions").invalidate(event.data["userId"])
