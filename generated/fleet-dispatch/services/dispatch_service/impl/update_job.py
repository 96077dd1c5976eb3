# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""update_job: Change the drop-off window of a job not yet assigned; needs the job's ETag in If-Match. (PATCH /jobs/{jobId})."""

from uuid import UUID

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    job_id: UUID,
    body: models.JobUpdate,
) -> models.Job | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
