"""Database migrations with rollback: the runtime's revisions and a service's own go up, down to base and up
again on a fresh PostgreSQL database and on SQLite, and leave exactly the tables the code describes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from planforge_runtime.audit import audit_table
from planforge_runtime.messaging import metadata as messaging_metadata
from planforge_runtime.migrate import apply_migrations, downgrade
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import REPO
from tests.datastores import fresh_database

SERVICES = REPO / "generated" / "user-accounts" / "services"
RUNTIME_TABLES = {"outbox", "processed_events", "planforge_audit"}


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, then a fresh SQLite file."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        return
    with fresh_database() as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


def _combined(*sources: MetaData | Table) -> MetaData:
    combined = MetaData()
    for source in sources:
        for table in source.tables.values() if isinstance(source, MetaData) else (source,):
            table.to_metadata(combined)
    return combined


def _service_tables(package: str) -> MetaData:
    """The service's impl/tables.py metadata, loaded without importing the service."""
    path = SERVICES / package / "impl" / "tables.py"
    source = path.read_text(encoding="utf-8").replace("from .. import models", "models: object = None")
    module = ModuleType(f"tables_{package}")
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module.metadata  # type: ignore[no-any-return]


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def _drift(engine: AsyncEngine, expected: MetaData) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), expected))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


RUNTIME = _combined(messaging_metadata, audit_table)


@pytest.mark.services
@pytest.mark.asyncio
async def test_the_runtime_revisions_go_up_down_and_up_and_match_the_code(engine: AsyncEngine) -> None:
    await apply_migrations(engine)
    assert await _tables(engine) == RUNTIME_TABLES
    assert await _drift(engine, RUNTIME) == []
    await downgrade(engine)
    assert await _tables(engine) == set()
    await apply_migrations(engine)
    assert await _drift(engine, RUNTIME) == []


@pytest.mark.services
@pytest.mark.asyncio
@pytest.mark.parametrize("package", ["user_service", "auth_service"])
async def test_a_service_with_its_own_revisions_goes_up_down_and_up(engine: AsyncEngine, package: str) -> None:
    migrations = SERVICES / package / "migrations"
    expected = _combined(RUNTIME, _service_tables(package))
    await apply_migrations(engine, migrations)
    assert await _tables(engine) == set(expected.tables)
    assert await _drift(engine, expected) == []
    await downgrade(engine, migrations)
    assert await _tables(engine) == set()
    await apply_migrations(engine, migrations)
    assert await _drift(engine, expected) == []


@pytest.mark.services
@pytest.mark.asyncio
async def test_a_table_changed_without_a_revision_is_drift(engine: AsyncEngine) -> None:
    """The comparison above is not vacuous: a column the migrations do not create shows up."""
    await apply_migrations(engine)
    changed = _combined(RUNTIME)
    Table("outbox", changed, Column("trace_parent", String(55)), extend_existing=True)
    Table("extra", changed, Column("id", Integer, primary_key=True))
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in await _drift(engine, changed)}
    assert {"add_column", "add_table"} <= kinds


@pytest.mark.services
@pytest.mark.asyncio
async def test_the_audit_log_is_append_only_after_migrating(engine: AsyncEngine) -> None:
    await apply_migrations(engine)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO planforge_audit (at, kind, operation, outcome) VALUES (CURRENT_TIMESTAMP, 'k', 'o', 'x')")
        )
    for statement in ("UPDATE planforge_audit SET outcome = 'y'", "DELETE FROM planforge_audit"):
        with pytest.raises(Exception, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))


@pytest.mark.services
def test_the_command_line_migrates_and_adds_a_revision(tmp_path: Path) -> None:
    service = tmp_path / "thing_service"
    (service / "migrations").mkdir(parents=True)
    database = tmp_path / "thing.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    command = [sys.executable, "-m", "planforge_runtime.migrate"]
    added = subprocess.run([*command, "revision", "--service", str(service), "-m", "things"], env=env, check=False)
    assert added.returncode == 0
    [revision] = list((service / "migrations").glob("*_things.py"))
    spec = importlib.util.spec_from_file_location("revision", revision)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.down_revision is None and module.branch_labels == ("app",)
    up = subprocess.run([*command, "upgrade", "--service", str(service)], env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    down = subprocess.run([*command, "downgrade", "--service", str(service)], env=env, capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    missing = subprocess.run(
        [*command, "upgrade", "--service", str(service)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "set DATABASE_URL" in missing.stderr
