# Created by planforge from examples/user-accounts/feature.yaml. This file is yours: planforge never overwrites or deletes it.
"""The credentials table of auth-service (branch "app"): what impl/tables.py describes.

Add later changes as new revisions of this branch (python -m planforge_runtime.migrate revision ...).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "auth_service_0001"
down_revision = None
branch_labels = ("app",)
depends_on = "planforge_0001"


def upgrade() -> None:
    """Create the credentials table."""
    op.create_table(
        "credentials",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("credentials")
