# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_job: Read one job; the ETag is its version. (GET /jobs/{jobId})."""

from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, job_id: UUID) -> models.Job | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
