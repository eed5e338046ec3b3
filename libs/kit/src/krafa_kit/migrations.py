"""Per-service Alembic migrations, each in the service's own schema with its own version table.

A service's `migrations/env.py` is two lines: it calls `run_env()`. `migrate()` runs them at
start-up under an advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from krafa_kit.db import sqlalchemy_url

log = logging.getLogger(__name__)


def _config(dsn: str, schema: str, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn))
    config.attributes["krafa_schema"] = schema
    return config


def migrate(dsn: str, schema: str, script_location: Path) -> None:
    """Bring the schema to every head (a service may carry parallel branches until a merge
    revision joins them). Blocking: call through asyncio.to_thread from async code."""
    command.upgrade(_config(dsn, schema, script_location), "heads")


# What a database that is not up yet answers: refused, reset, or "the database system is starting up".
NOT_UP_YET = (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError)


async def migrate_async(dsn: str, schema: str, script_location: Path, *, wait_for_database_s: float = 120.0) -> None:
    """`migrate`, skipped when the schema is already at every head: a restart (or a test's
    database cloned from a migrated template) then costs one query instead of an Alembic run.
    A service often starts before its database (a pod beside a PostgreSQL still recovering):
    it waits up to `wait_for_database_s` for the database to answer, saying so in the log, and
    only then migrates."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(NOT_UP_YET),
        wait=wait_exponential(multiplier=0.25, max=5),
        stop=stop_after_delay(wait_for_database_s),
        before_sleep=lambda state: log.warning(
            "database not reachable yet (%s); migrations wait and retry", state.outcome and state.outcome.exception()
        ),
        reraise=True,
    ):
        with attempt:
            done = await at_heads(dsn, schema, script_location)
    if done:
        return
    await asyncio.to_thread(migrate, dsn, schema, script_location)


@functools.cache
def heads(script_location: Path) -> frozenset[str]:
    """The head revisions of a service's migrations (read once per process)."""
    return frozenset(ScriptDirectory.from_config(_config("postgresql://", "", script_location)).get_heads())


async def at_heads(dsn: str, schema: str, script_location: Path) -> bool:
    wanted = await asyncio.to_thread(heads, script_location)
    conn = await asyncpg.connect(_asyncpg_dsn(dsn))
    try:
        if await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".alembic_version') is None:
            return False
        rows = await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')
    finally:
        await conn.close()
    return {row["version_num"] for row in rows} == wanted


def _asyncpg_dsn(dsn: str) -> str:
    return dsn.replace("postgresql+asyncpg://", "postgresql://", 1)


def run_env() -> None:
    """Body of every service's migrations/env.py."""
    config = context.config
    schema: str = config.attributes["krafa_schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    asyncio.run(_run_online(url, schema))


async def _run_online(url: str, schema: str) -> None:
    engine = create_async_engine(url, poolclass=sa.pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run, schema)
        await connection.commit()
    await engine.dispose()


def _do_run(connection: sa.Connection, schema: str) -> None:
    # One migrator at a time per schema, even with several replicas starting at once.
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
    connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(sa.text(f'SET search_path TO "{schema}", public'))
    context.configure(
        connection=connection,
        version_table_schema=schema,
        include_schemas=False,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_outbox_and_inbox() -> None:
    """The kit's own tables, created by each service's first migration (call inside upgrade())."""
    from alembic import op

    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            topic text NOT NULL,
            key bytea NOT NULL,
            headers text NOT NULL,
            value bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        )
        """
    )
    # The relay's hot query: the unpublished tail, in order.
    op.execute("CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL")
    op.execute("CREATE INDEX outbox_created_at ON outbox (created_at)")
    op.execute(
        """
        CREATE TABLE inbox (
            event_id uuid NOT NULL,
            consumer text NOT NULL,
            event_type text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """
    )
    op.execute("CREATE INDEX inbox_processed_at ON inbox (processed_at)")


def run_sql(script: str) -> None:
    """Run a migration script of several statements (asyncpg prepares one statement at a time)."""
    from alembic import op

    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)
