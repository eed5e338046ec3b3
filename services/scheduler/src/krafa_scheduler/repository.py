"""SQL of the scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def insert_timeline(conn: asyncpg.Connection, values: tuple[Any, ...]) -> None:
    await conn.execute(
        "INSERT INTO timelines (claim_id, creditor_id, debtor_id, currency, due_date, final_due_date,"
        " jurisdiction, time_zone, next_action_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (claim_id) DO NOTHING",
        *values,
    )


async def stop_timeline(conn: asyncpg.Connection, claim_id: UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE timelines SET status = 'stopped', stop_reason = $2, next_action_at = NULL, updated_at = now()"
        " WHERE claim_id = $1 AND status = 'active'",
        claim_id,
        reason,
    )


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    # SKIP LOCKED lets several scheduler replicas sweep side by side without firing a step twice.
    return list(
        await conn.fetch(
            "SELECT * FROM timelines WHERE status = 'active' AND next_action_at <= $1"
            " ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
    )


async def advance(conn: asyncpg.Connection, updates: list[tuple[UUID, int, datetime | None, str]]) -> None:
    await conn.execute(
        "UPDATE timelines t SET step = u.step, next_action_at = u.next_at, status = u.status, updated_at = now()"
        " FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[]) AS u(claim_id, step, next_at, status)"
        " WHERE t.claim_id = u.claim_id",
        [u[0] for u in updates],
        [u[1] for u in updates],
        [u[2] for u in updates],
        [u[3] for u in updates],
    )


async def next_due_at(conn: asyncpg.Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT min(next_action_at) FROM timelines WHERE status = 'active'")
    return value
