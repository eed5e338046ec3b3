"""Sandbox creditors and their clocks (their SQL; docs/adr/0015)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

# Columns a sandbox does not copy from its live creditor: its own identity, and the link itself.
_OWN_COLUMNS = frozenset({"id", "name", "sender_name", "created_at", "sandbox_of"})


async def sandbox_of_live(conn: asyncpg.Connection, live_id: UUID) -> UUID | None:
    value: UUID | None = await conn.fetchval("SELECT id FROM creditors WHERE sandbox_of = $1", live_id)
    return value


async def live_of(conn: asyncpg.Connection, creditor_id: UUID) -> UUID | None:
    """The live creditor `creditor_id` is the sandbox of; None for a live creditor."""
    value: UUID | None = await conn.fetchval("SELECT sandbox_of FROM creditors WHERE id = $1", creditor_id)
    return value


async def lock_live(conn: asyncpg.Connection, live_id: UUID) -> asyncpg.Record | None:
    """The live creditor, locked so two first uses make one sandbox."""
    return await conn.fetchrow("SELECT id, name, sandbox_of FROM creditors WHERE id = $1 FOR UPDATE", live_id)


async def insert_sandbox(conn: asyncpg.Connection, live_id: UUID, sandbox_id: UUID) -> None:
    """A copy of the live creditor's settings (every column but its identity) as a new creditor,
    named "(sandbox)", and a copy of its departments. Columns are read from the catalog so a
    setting added later is copied too."""
    columns = [
        c
        for c in await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'creditors' ORDER BY ordinal_position"
        )
        if c["column_name"] not in _OWN_COLUMNS
    ]
    names = ", ".join(f'"{c["column_name"]}"' for c in columns)
    await conn.execute(
        f"INSERT INTO creditors (id, name, sender_name, sandbox_of, {names})"
        f" SELECT $2, name || ' (sandbox)', CASE WHEN sender_name = '' THEN '' ELSE sender_name || ' (sandbox)' END,"
        f" id, {names} FROM creditors WHERE id = $1",
        live_id,
        sandbox_id,
    )
    await conn.execute(
        "INSERT INTO departments (id, creditor_id, key, name, final_due_offset_days, policy_key)"
        " SELECT gen_random_uuid(), $2, key, name, final_due_offset_days, policy_key FROM departments"
        " WHERE creditor_id = $1",
        live_id,
        sandbox_id,
    )


async def clock_offset(conn: asyncpg.Connection, creditor_id: UUID, *, lock: bool = False) -> timedelta:
    seconds = await conn.fetchval(
        "SELECT offset_s FROM sandbox_clocks WHERE creditor_id = $1" + (" FOR UPDATE" if lock else ""), creditor_id
    )
    return timedelta(seconds=seconds or 0)


async def set_clock_offset(conn: asyncpg.Connection, creditor_id: UUID, offset: timedelta, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO sandbox_clocks (creditor_id, offset_s, advanced_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (creditor_id) DO UPDATE SET offset_s = excluded.offset_s, advanced_at = excluded.advanced_at"
        " WHERE sandbox_clocks.offset_s < excluded.offset_s",
        creditor_id,
        int(offset.total_seconds()),
        at,
    )
