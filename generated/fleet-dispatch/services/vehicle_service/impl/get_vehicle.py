# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""get_vehicle: Read one van. (GET /vehicles/{vehicleId})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(ctx: Context, *, vehicle_id: str) -> models.Vehicle | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
