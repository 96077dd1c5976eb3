"""on_auth_created: Marks the account as able to sign in (auth.created from user-service-queue)."""

import logging

from planforge_runtime.messaging import Envelope, EventContext

_log = logging.getLogger("user_service.events")


async def handle(event: Envelope, ctx: EventContext) -> None:
    """Note that the user can sign in now (the users table keeps no flag for it yet)."""
    _log.info("credentials exist for user %s", event.data["userId"])
