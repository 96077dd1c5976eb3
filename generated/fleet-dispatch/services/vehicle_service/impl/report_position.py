# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""report_position: A van reports where it is. (PUT /vehicles/{vehicleId}/position)."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    vehicle_id: str,
    body: models.Position,
) -> models.Vehicle | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
