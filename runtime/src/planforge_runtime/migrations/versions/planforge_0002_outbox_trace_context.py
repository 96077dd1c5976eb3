"""The outbox keeps the W3C trace context of the transaction that staged each event (the relay continues it).

Revision ID: planforge_0002
Revises: planforge_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "planforge_0002"
down_revision = "planforge_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add outbox.trace_context (nullable: rows staged outside a trace, and older rows, have none)."""
    op.add_column("outbox", sa.Column("trace_context", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop outbox.trace_context."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("trace_context")
