# Created by planforge from examples/fleet-dispatch/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""list_vehicles: List vans, optionally only those free in a region. (GET /vehicles)."""

from typing import Literal

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    region: str,
    state: Literal["FREE", "BUSY", "OFFLINE"] | None,
) -> models.VehiclePage | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
