# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""quote_job: Quote a job. (POST /quotes)."""

from planforge.runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, body: models.QuoteRequest) -> models.Quote | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge.runtime.Problem."""
    raise NotImplementedError
