"""A service started before its database waits for it, then migrates: no crash at start-up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import pytest
from krafa_kit.embedded import EmbeddedPostgres, free_port
from krafa_kit.migrations import migrate_async

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parent / "migrations"


async def test_migrations_wait_for_a_database_that_comes_up_late(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    pg = EmbeddedPostgres(tmp_path / "pg", port=port, durable=False)
    caplog.set_level(logging.WARNING, logger="krafa_kit.migrations")
    waiting = asyncio.create_task(migrate_async(pg.dsn, "late", MIGRATIONS, wait_for_database_s=120))
    await asyncio.sleep(1.0)
    assert not waiting.done()  # nothing listens yet: still waiting, not crashed
    await asyncio.to_thread(pg.start)
    try:
        await asyncio.wait_for(waiting, 120)
        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SELECT to_regclass('late.alembic_version')") is not None
        finally:
            await conn.close()
        assert any("database not reachable yet" in r.getMessage() for r in caplog.records)
    finally:
        await asyncio.to_thread(pg.stop)


async def test_migrations_give_up_after_their_wait() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(OSError):
        await migrate_async(dsn, "never", MIGRATIONS, wait_for_database_s=1)
