"""on_auth_revoked: Evicts the user's cached profile and sessions (auth.revoked from user-service-queue)."""

from planforge_runtime.messaging import Envelope, EventContext


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Drop the revoked token and the user's profile from the caches."""
    assert ctx.resources is not None
    await ctx.resources.cache("auth-tokens").invalidate(event.data["tokenId"])
    await ctx.resources.cache("user-profile").invalidate(event.data["userId"])
