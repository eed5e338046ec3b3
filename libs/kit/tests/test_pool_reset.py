"""A pooled connection goes back to the pool as clean as asyncpg's full reset leaves it, but pays
that reset's round trip only when it may hold session state (krafa_kit.db.TrackedConnection)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from krafa_kit.db import Database

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, "public", pool_size=1, tls={})
    await database.connect()
    yield database
    await database.close()


async def _raw(db: Database) -> asyncpg.Connection:
    """The one connection of a pool of one, unwrapped (the same object on every checkout)."""
    async with db.connection() as conn:
        raw: asyncpg.Connection = conn._con
        return raw


async def test_a_plain_checkout_is_handed_back_without_a_reset_round_trip(db: Database) -> None:
    raw = await _raw(db)
    sent: list[str] = []
    raw.add_query_logger(lambda logged: sent.append(logged.query))
    async with db.connection() as conn:
        await conn.fetchval("SELECT 1")
    async with db.uow() as uow:
        await uow.conn.execute("UPDATE pg_database SET datallowconn = datallowconn WHERE false")
        await uow.conn.execute("SET LOCAL lock_timeout = 1000")
        await uow.commit()
    assert not [q for q in sent if "RESET ALL" in q], sent


async def test_session_state_is_reset_when_the_connection_goes_back(db: Database) -> None:
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock(42)")
        await conn.execute("SET application_name = 'left behind'")
        await conn.execute("LISTEN left_behind")
    other = await asyncpg.connect(db.dsn)
    try:
        # The lock was released with the connection: another session takes it.
        assert await other.fetchval("SELECT pg_try_advisory_lock(42)")
    finally:
        await other.close()
    async with db.connection() as conn:
        assert await conn.fetchval("SHOW application_name") != "left behind"
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


async def test_an_open_transaction_is_rolled_back_and_a_set_local_ends_with_it(db: Database) -> None:
    async with db.connection() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SET LOCAL statement_timeout = 12345")
        await conn.execute("CREATE TABLE never_committed (x int)")
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT to_regclass('never_committed')") is None
        assert await conn.fetchval("SHOW statement_timeout") == "0"
