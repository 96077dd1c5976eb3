# Created by planforge from examples/order-checkout/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""The first revision of order-service's own tables (branch "app"): create them here, drop them below.

planforge's runtime keeps its own tables (outbox, processed events, audit log) in the revisions of the
"planforge" branch, which this one depends on. Add later changes as new revisions of this branch:

    python -m planforge_runtime.migrate revision --service services/order_service -m "what changes"

The service applies every branch's head when it starts (MIGRATE_ON_START=false turns that off); by hand:
DATABASE_URL=... python -m planforge_runtime.migrate upgrade --service services/order_service
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - for the columns you add
from alembic import op  # noqa: F401 - for op.create_table(...) and friends

revision = "order_service_0001"
down_revision = None
branch_labels = ("app",)
depends_on = "planforge_0001"


def upgrade() -> None:
    """Create the service's tables, e.g. op.create_table("things", sa.Column("id", sa.Uuid, primary_key=True))."""


def downgrade() -> None:
    """Drop what upgrade() created, in reverse order."""
