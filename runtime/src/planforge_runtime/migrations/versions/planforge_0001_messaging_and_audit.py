"""The runtime's tables: the transactional outbox, processed events and the append-only audit log.

Revision ID: planforge_0001
Revises: (none; the base of the planforge branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "planforge_0001"
down_revision = None
branch_labels = ("planforge",)
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_APPEND_ONLY = {
    "postgresql": (
        """CREATE OR REPLACE FUNCTION planforge_audit_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'planforge_audit is append-only'; END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER planforge_audit_no_change BEFORE UPDATE OR DELETE ON planforge_audit
        FOR EACH ROW EXECUTE FUNCTION planforge_audit_append_only()""",
        """CREATE TRIGGER planforge_audit_no_truncate BEFORE TRUNCATE ON planforge_audit
        FOR EACH STATEMENT EXECUTE FUNCTION planforge_audit_append_only()""",
    ),
    "sqlite": (
        """CREATE TRIGGER planforge_audit_no_update BEFORE UPDATE ON planforge_audit
        BEGIN SELECT RAISE(ABORT, 'planforge_audit is append-only'); END""",
        """CREATE TRIGGER planforge_audit_no_delete BEFORE DELETE ON planforge_audit
        BEGIN SELECT RAISE(ABORT, 'planforge_audit is append-only'); END""",
    ),
}
_DROP = {
    "postgresql": (
        "DROP TRIGGER IF EXISTS planforge_audit_no_truncate ON planforge_audit",
        "DROP TRIGGER IF EXISTS planforge_audit_no_change ON planforge_audit",
        "DROP FUNCTION IF EXISTS planforge_audit_append_only()",
    ),
    "sqlite": ("DROP TRIGGER IF EXISTS planforge_audit_no_delete", "DROP TRIGGER IF EXISTS planforge_audit_no_update"),
}


def upgrade() -> None:
    """Create the three tables (and the outbox's partial index, the audit log's triggers)."""
    op.create_table(
        "outbox",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("exchange", sa.String(255), nullable=False),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    unpublished = sa.text("published_at IS NULL")
    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=unpublished, sqlite_where=unpublished)
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "planforge_audit",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("subject", sa.String(255), nullable=True),
    )
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    """Drop them again (the audit log's triggers first)."""
    for statement in _DROP.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
    op.drop_table("planforge_audit")
    op.drop_table("processed_events")
    op.drop_index("outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
