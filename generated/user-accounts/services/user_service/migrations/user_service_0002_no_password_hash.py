"""user-service keeps no password hash: auth-service alone holds the credentials (set_credentials).

The hashes it kept were copies of auth-service's; a downgrade brings the column back empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "user_service_0002"
down_revision = "user_service_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop users.password_hash."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")


def downgrade() -> None:
    """Add it back, without the hashes (auth-service has them)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
