"""Departments of a creditor (docs/domain.md, Icelandic payment slips: a sports club's divisions), each with its own
rule for the final due date and its own dunning policy key."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from krafa_kit import errors


async def create(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    *,
    key: str,
    name: str,
    final_due_offset_days: int,
    policy_key: str | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO departments (id, creditor_id, key, name, final_due_offset_days, policy_key)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (creditor_id, key) DO NOTHING RETURNING *",
        uuid.uuid4(),
        creditor_id,
        key,
        name,
        final_due_offset_days,
        policy_key,
    )
    if row is None:
        raise errors.Conflict(f"a department with key {key!r} already exists", kind="duplicate-department")
    return row


async def list_all(conn: asyncpg.Connection, creditor_id: UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM departments WHERE creditor_id = $1 ORDER BY key", creditor_id))


async def get(conn: asyncpg.Connection, creditor_id: UUID, department_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM departments WHERE id = $1 AND creditor_id = $2", department_id, creditor_id
    )
