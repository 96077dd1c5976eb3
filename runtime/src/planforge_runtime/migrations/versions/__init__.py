"""The runtime's own Alembic revisions (messaging, outbox and audit tables)."""
