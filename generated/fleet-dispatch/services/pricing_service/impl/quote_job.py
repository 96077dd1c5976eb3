# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""quote_job: Quote a job. (POST /quotes)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.QuoteRequest) -> models.Quote | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
