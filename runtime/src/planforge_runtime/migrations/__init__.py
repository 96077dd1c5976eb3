"""Alembic migrations of the tables the runtime itself keeps (outbox, processed events, audit log).

They ship with the runtime and are versioned with it, like a library's own migrations: a service's Alembic
environment runs them (branch ``planforge``) together with the service's own revisions (branch ``app``, in
``services/<package>/migrations/``, which belong to the service's team). See planforge_runtime.migrate.
"""
