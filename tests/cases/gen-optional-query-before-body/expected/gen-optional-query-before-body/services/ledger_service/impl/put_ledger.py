# Created by planforge from feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""put_ledger: put_ledger (PUT /ledgers/{ledgerId})."""

from planforge_runtime import Context, Reply

from .. import models


async def handle(
    ctx: Context,
    *,
    ledger_id: str,
    dry_run: bool | None,
    body: models.LedgerInput,
) -> models.LedgerInput | Reply:
    """Implement the operation: return the body, a Reply, or raise planforge_runtime.Problem."""
    raise NotImplementedError
