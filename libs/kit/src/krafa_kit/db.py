"""Database access: an asyncpg pool pinned to the service's own schema, and the unit of work.

Queries go through asyncpg directly (COPY, LISTEN/NOTIFY and SKIP LOCKED sweeps are first-class
there); SQLAlchemy is used only by Alembic for migrations. See docs/adr/0001.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import asyncpg

from krafa_kit.outbox import Outbox

Connection = asyncpg.Connection


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    """One pool per process. Nothing connects until `connect()` (never at import)."""

    def __init__(self, dsn: str, schema: str, *, pool_size: int = 10, source: str = "") -> None:
        self.dsn = _plain_dsn(dsn)
        self.schema = schema
        self.pool_size = pool_size
        self.source = source or f"/krafa/{schema}"
        self._pool: asyncpg.Pool | None = None

    async def connect(self, *, attempts: int = 60) -> None:
        for attempt in range(attempts):
            try:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    server_settings={"search_path": f"{self.schema},public"},
                    init=_init_connection,
                )
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._pool

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn:
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False


class UnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`. Leaving without commit rolls back.
    The outbox rides on the same transaction, so the state change and its events commit together."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: asyncpg.Connection | None = None
        self._tx: Any = None
        self._committed = False
        self.outbox = Outbox(db.source)

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work is not open")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self.db.pool.acquire()
        self._tx = self._conn.transaction()
        await self._tx.start()
        self.outbox.bind(self._conn)
        return self

    async def commit(self) -> None:
        await self.outbox.flush()
        await self._tx.commit()
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._conn is not None and not self._conn.is_closed():
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self.db.pool.release(self._conn)
                self._conn = None


def _plain_dsn(dsn: str) -> str:
    # Accept SQLAlchemy-style URLs in settings, since Alembic shares them.
    return dsn.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(dsn: str) -> str:
    return _plain_dsn(dsn).replace("postgresql://", "postgresql+asyncpg://", 1)
