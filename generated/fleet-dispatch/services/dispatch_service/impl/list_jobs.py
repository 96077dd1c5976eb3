# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""list_jobs: List jobs, filtered by status and region. (GET /jobs)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    status: str | None,
    region: str | None,
    limit: int | None,
) -> models.JobPage | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
