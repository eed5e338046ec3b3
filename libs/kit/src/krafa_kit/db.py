"""Database access: an asyncpg pool pinned to the service's own schema, and the unit of work.

Queries go through asyncpg directly (COPY, LISTEN/NOTIFY and SKIP LOCKED sweeps are first-class
there); SQLAlchemy is used only by Alembic for migrations. See docs/adr/0001.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from krafa_kit.outbox import Outbox
from krafa_kit.settings import ServiceSettings, database_tls_params

log = logging.getLogger(__name__)

Connection = asyncpg.Connection


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# A statement that may leave state in the session beyond its transaction: a session advisory
# lock, LISTEN, a session SET or set_config, a temporary table, a held cursor, PREPARE.
_SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_lock|\bLISTEN\b|(^|;)\s*(SET|RESET)\s+(?!LOCAL\b)|set_config|\bTEMP(ORARY)?\b|\bWITH\s+HOLD\b"
    r"|(^|;)\s*PREPARE\b|\bDISCARD\b",
    re.IGNORECASE,
)
_seen: dict[str, bool] = {}


def _leaves_state(query: str) -> bool:
    found = _seen.get(query)
    if found is None:
        found = _SESSION_STATE.search(query) is not None
        if len(_seen) < 4096:  # the services' statements are a fixed set; a stray one is just searched again
            _seen[query] = found
    return found


class TrackedConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection that knows whether it may hold session state (`_leaves_state`), so
    that handing it back to the pool costs a round trip only then (`_reset_if_used`): asyncpg's
    reset otherwise sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every
    release, a round trip and ~70 µs of CPU (client and server) per checkout. Transactions are
    rolled back by asyncpg either way."""

    __slots__ = ("_session_state",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_state = False

    def _note(self, query: str) -> None:
        if not self._session_state and _leaves_state(query):
            self._session_state = True

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self._note(query)
        return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        self._note(command)
        await super().executemany(command, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[Any]:
        self._note(query)
        return await super().fetch(query, *args, **kwargs)  # type: ignore[no-any-return]

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchrow(query, *args, **kwargs)

    async def fetchmany(self, query: str, args: Any, **kwargs: Any) -> list[Any]:
        self._note(query)
        return await super().fetchmany(query, args, **kwargs)  # type: ignore[no-any-return]

    async def prepare(self, query: str, **kwargs: Any) -> Any:
        self._note(query)
        return await super().prepare(query, **kwargs)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().cursor(query, *args, **kwargs)

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._session_state = True
        await super().add_listener(channel, callback)


async def _reset_if_used(conn: asyncpg.Connection) -> None:
    """The pool's reset (after asyncpg's own rollback of an open transaction): the full reset query
    only for a connection that may hold session state."""
    if getattr(conn, "_session_state", True):
        query = conn.get_reset_query()
        if query:
            await conn.execute(query)
        conn._session_state = False


class Database:
    """One pool per process. Nothing connects until `connect()` (never at import).

    TLS and the password come from the settings (`tls`, by default read from the environment:
    KRAFA_DATABASE_SSLMODE, …) and are merged into `dsn`, so every connection made from
    `self.dsn` (the pool, the outbox relay's listener, advisory-lock holders) uses them."""

    def __init__(
        self, dsn: str, schema: str, *, pool_size: int = 10, source: str = "", tls: Mapping[str, str] | None = None
    ) -> None:
        self.dsn = with_params(_plain_dsn(dsn), database_tls_params(ServiceSettings()) if tls is None else tls)
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
                    connection_class=TrackedConnection,
                    reset=_reset_if_used,
                )
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.5)

    async def close(self, timeout: float = 3) -> None:
        """Close the pool, waiting up to `timeout` seconds for connections still in use; then
        terminate them (their transactions roll back), so a stop never hangs on a stuck query.
        By then the server has drained its requests and the runtime's tasks are cancelled: a
        connection still out is one a database restart left hanging, not work to wait for."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout)
            except TimeoutError:
                log.warning("database pool did not close in %ss; terminating its connections", timeout)
                pool.terminate()

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
        self.outbox = Outbox(db.source, db.schema)  # the pool's search_path starts with db.schema

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


def with_params(dsn: str, params: Mapping[str, str]) -> str:
    """`dsn` with libpq query parameters added (those already in the DSN win)."""
    if not params:
        return dsn
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in params.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def sqlalchemy_url(dsn: str, tls: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy (Alembic) URL for `dsn` with the same TLS settings. SQLAlchemy hands URL
    parameters to asyncpg.connect() as arguments, which knows `ssl` but not the libpq file
    parameters: those go through the environment variables asyncpg reads (PGSSLROOTCERT, ...)."""
    url = with_params(_plain_dsn(dsn), database_tls_params(ServiceSettings()) if tls is None else tls)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    for name, variable in (("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"), ("sslkey", "PGSSLKEY")):
        if name in query:
            os.environ.setdefault(variable, query.pop(name))
    url = urlunsplit(parts._replace(query=urlencode(query)))
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)
