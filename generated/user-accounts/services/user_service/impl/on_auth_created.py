"""on_auth_created: Marks the account as able to sign in (auth.created from user-service-queue)."""

import logging

from planforge_runtime.messaging import EventContext

from .. import models

_log = logging.getLogger("user_service.events")


async def handle(event: models.AuthCreated, ctx: EventContext) -> None:
    """Note that the user can sign in now (the users table keeps no flag for it yet)."""
    _log.info("credentials exist for user %s", event.userId)
