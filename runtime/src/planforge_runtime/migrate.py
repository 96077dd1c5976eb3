"""Database migrations of a generated service, with Alembic: the runtime's tables and the service's own.

Two branches share one history per database: ``planforge`` (the runtime's revisions, shipped in
planforge_runtime/migrations/versions/) and ``app`` (the service's own, in services/<package>/migrations/,
written by its team). A service applies ``heads`` at start-up (MIGRATE_ON_START, on by default), under a
PostgreSQL advisory lock so that replicas starting together migrate once; deployments that migrate in a job
first (deploy/k8s/) turn it off. From a shell, with DATABASE_URL set::

    python -m planforge_runtime.migrate upgrade   --service services/<package>
    python -m planforge_runtime.migrate downgrade --service services/<package> [--to base]
    python -m planforge_runtime.migrate revision  --service services/<package> -m "add a column"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from planforge_runtime.config import async_sql_url

__all__ = ["RUNTIME_MIGRATIONS", "add_revision", "alembic_config", "apply_migrations", "downgrade", "main"]

RUNTIME_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = "SELECT pg_advisory_xact_lock(7270311011)"  # one number for every planforge service's migrations


def alembic_config(service_migrations: Path | None = None) -> Config:
    """The Alembic configuration: the runtime's environment and revisions, and the service's revisions."""
    config = Config()
    config.set_main_option("script_location", str(RUNTIME_MIGRATIONS))
    locations = [RUNTIME_MIGRATIONS / "versions"]
    if service_migrations is not None:
        locations.append(service_migrations)
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return config


async def apply_migrations(engine: AsyncEngine, service_migrations: Path | None = None, target: str = "heads") -> None:
    """Upgrade the database to target (every branch's head), in one transaction, one service at a time."""
    await _run(engine, service_migrations, "upgrade", target)


async def downgrade(engine: AsyncEngine, service_migrations: Path | None = None, target: str = "base") -> None:
    """Downgrade the database to target (base: no planforge or service table left)."""
    await _run(engine, service_migrations, "downgrade", target)


async def _run(engine: AsyncEngine, service_migrations: Path | None, action: str, target: str) -> None:
    config = alembic_config(service_migrations if service_migrations and service_migrations.is_dir() else None)
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(_LOCK))
        await connection.run_sync(_command, config, action, target)


def _command(connection: Connection, config: Config, action: str, target: str) -> None:
    config.attributes["connection"] = connection
    getattr(command, action)(config, target)


def add_revision(migrations: Path, message: str) -> None:
    """A new revision of the service's branch (app); the first one starts the branch on the runtime's head."""
    config = alembic_config(migrations)
    script = ScriptDirectory.from_config(config)
    started = any("app" in (r.branch_labels or ()) for r in script.walk_revisions())
    if started:
        command.revision(config, message, head="app@head", version_path=str(migrations))
        return
    (runtime,) = (r.revision for r in script.get_revisions("planforge@head"))  # the planforge branch has one head
    command.revision(config, message, head="base", branch_label="app", depends_on=runtime, version_path=str(migrations))


def main(argv: list[str] | None = None) -> int:
    """`python -m planforge_runtime.migrate`: upgrade, downgrade or add a revision of the service's branch."""
    parser = argparse.ArgumentParser(prog="python -m planforge_runtime.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("upgrade", "downgrade", "revision"))
    parser.add_argument("--service", type=Path, required=True, help="the generated service folder")
    parser.add_argument("--to", help="target revision (upgrade: heads, downgrade: base)")
    parser.add_argument("-m", "--message", default="change", help="the new revision's message")
    args = parser.parse_args(argv)
    migrations = args.service / "migrations"
    if args.action == "revision":
        add_revision(migrations, args.message)
        return 0
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.stderr.write("migrate: set DATABASE_URL to the service's database\n")
        return 2
    target = args.to or ("heads" if args.action == "upgrade" else "base")
    asyncio.run(_once(url, migrations, args.action, target))
    return 0


async def _once(url: str, migrations: Path, action: str, target: str) -> None:
    engine = create_async_engine(async_sql_url(url))
    try:
        await _run(engine, migrations, action, target)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
