"""SQL of the notifier."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

DISPATCH_COLUMNS = (
    "id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone, template, fee_minor, channels,"
    " fallback_for, attempts, due_at"
)


async def upsert_claim(conn: asyncpg.Connection, values: tuple[Any, ...]) -> None:
    await conn.execute(
        "INSERT INTO claims_view (claim_id, creditor_id, debtor_id, invoice_no, description, amount_minor,"
        " fees_minor, currency, due_date, reference, creditor, debtor)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (claim_id) DO NOTHING",
        *values,
    )


async def close_claim(conn: asyncpg.Connection, claim_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE claims_view SET status = $2, updated_at = now() WHERE claim_id = $1", claim_id, status)


async def insert_delivery(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """A delivery per (reminder, kind): a second ReminderDue or a second bounce adds nothing."""
    inserted = await conn.fetchval(
        "INSERT INTO deliveries (id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone,"
        " template, fee_minor, channels, fallback_for, due_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (reminder_id, kind) DO NOTHING RETURNING true",
        values["id"],
        values["reminder_id"],
        values["kind"],
        values["creditor_id"],
        values["debtor_id"],
        values["claim_ids"],
        values["step"],
        values["tone"],
        values["template"],
        values["fee_minor"],
        values["channels"],
        values.get("fallback_for"),
        values["due_at"],
    )
    return bool(inserted)


async def claim_batch(conn: asyncpg.Connection, worker: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""
            UPDATE deliveries d SET status = 'sending', claimed_by = $1, attempts = attempts + 1
            FROM (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
            WHERE d.id = due.id
            RETURNING {", ".join("d." + c.strip() for c in DISPATCH_COLUMNS.split(","))}
            """,
            worker,
            limit,
        )
    )


async def claims_for(conn: asyncpg.Connection, claim_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch("SELECT * FROM claims_view WHERE claim_id = ANY($1::uuid[]) ORDER BY due_date", claim_ids)
    )


async def suppressed(conn: asyncpg.Connection, creditor_id: uuid.UUID, address: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM suppressions WHERE creditor_id = $1 AND address = lower($2)", creditor_id, address
        )
    )


async def suppress(conn: asyncpg.Connection, creditor_id: uuid.UUID, address: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO suppressions (creditor_id, address, reason) VALUES ($1, lower($2), $3) ON CONFLICT DO NOTHING",
        creditor_id,
        address,
        reason,
    )


async def release_orphans(conn: asyncpg.Connection) -> int:
    """Deliveries left 'sending' by a dispatcher that died go back to pending. A dispatcher holds
    an advisory lock on its id while alive, so a lock we can take belongs to a dead one."""
    released = 0
    for row in await conn.fetch("SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'sending'"):
        worker = row["claimed_by"]
        if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1::text))", str(worker)):
            result = await conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = now()"
                " WHERE status = 'sending' AND claimed_by = $1",
                worker,
            )
            released += int(result.split()[-1])
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1::text))", str(worker))
    return released
