# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""book_job: Book a delivery job; it is priced and assigned asynchronously. (POST /jobs)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.JobRequest) -> models.Job | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
