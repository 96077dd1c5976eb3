"""The Alembic environment of a generated service: the runtime's revisions and the service's own.

planforge_runtime.migrate opens the connection (DATABASE_URL, or the service's engine at start-up) and hands
it over in ``config.attributes["connection"]``; migrations run online only, in one transaction.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit("planforge migrations run online, through `python -m planforge_runtime.migrate`")
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
