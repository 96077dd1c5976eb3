# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_timeline: The timeline of one job. (GET /timelines/{jobId})."""

from datetime import datetime
from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    job_id: UUID,
    since: datetime | None,
) -> models.Timeline | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
