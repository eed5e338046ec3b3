"""SQL of the bounce-handler: deliveries, inbound messages and bounces."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from krafa_events import ReminderSent
from krafa_kit.db import Connection

Row = Mapping[str, Any]

# Two-key advisory locks have their own key space; the first key names what is locked.
_DELIVERY_LOCK = "krafa.bounce-handler.delivery"
_ADDRESS_LOCK = "krafa.bounce-handler.address"


async def lock_delivery(conn: Connection, delivery_id: UUID) -> None:
    """Serialise everything that touches one delivery until the transaction ends.

    The ReminderSent handler and an inbound DSN for the same delivery can run at once; without
    the lock a DSN could find no delivery while the handler, not yet seeing the DSN's
    uncommitted awaiting row, inserts it, and the bounce would wait forever.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2::uuid::text))",
        _DELIVERY_LOCK,
        delivery_id,
    )


async def insert_delivery(conn: Connection, event: ReminderSent) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO deliveries (delivery_id, reminder_id, creditor_id, debtor_id, claim_ids, step,"
        " recipient, return_path, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (delivery_id) DO NOTHING RETURNING true",
        event.delivery_id,
        event.reminder_id,
        event.creditor_id,
        event.debtor_id,
        list(event.claim_ids),
        event.step,
        event.recipient,
        event.return_path,
        event.sent_at,
    )
    return bool(inserted)


async def get_delivery(conn: Connection, delivery_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM deliveries WHERE delivery_id = $1", delivery_id)
    return row


async def insert_inbound(
    conn: Connection,
    *,
    inbound_id: UUID,
    received_at: datetime,
    mail_from: str,
    rcpt_to: str,
    delivery_id: UUID | None,
    verdict: str,
    detail: str | None,
    raw: bytes,
    raw_sha256: bytes,
) -> None:
    await conn.execute(
        "INSERT INTO inbound_messages (id, received_at, mail_from, rcpt_to, delivery_id, verdict,"
        " detail, size_bytes, raw_sha256, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        inbound_id,
        received_at,
        mail_from,
        rcpt_to,
        delivery_id,
        verdict,
        detail,
        len(raw),
        raw_sha256,
        raw,
    )


async def emitted_bounces(conn: Connection, delivery_id: UUID) -> list[tuple[str, bytes]]:
    rows = await conn.fetch(
        "SELECT kind, raw_sha256 FROM bounces WHERE delivery_id = $1 AND state = 'emitted'",
        delivery_id,
    )
    return [(row["kind"], bytes(row["raw_sha256"])) for row in rows]


async def insert_bounce(conn: Connection, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO bounces ({columns}) VALUES ({placeholders})", *values.values())


async def awaiting_bounces(conn: Connection, delivery_id: UUID) -> list[Row]:
    return list(
        await conn.fetch(
            "SELECT id, report, received_at, raw_sha256, source FROM bounces"
            " WHERE delivery_id = $1 AND state = 'awaiting_delivery'"
            " ORDER BY received_at, id FOR UPDATE",
            delivery_id,
        )
    )


async def resolve_bounce(
    conn: Connection,
    bounce_id: UUID,
    *,
    state: str,
    recipient: str,
    reported_address: str,
    kind: str,
    status: str | None,
    reason: str,
    emitted_at: datetime | None,
    event_id: UUID | None,
    escalated: bool = False,
) -> None:
    await conn.execute(
        "UPDATE bounces SET state = $2, recipient = $3, reported_address = $4, kind = $5,"
        " status = $6, reason = $7, emitted_at = $8, event_id = $9, escalated = $10 WHERE id = $1",
        bounce_id,
        state,
        recipient,
        reported_address,
        kind,
        status,
        reason,
        emitted_at,
        event_id,
        escalated,
    )


async def lock_address(conn: Connection, creditor_id: UUID, recipient: str) -> None:
    """Serialise the soft-bounce count of one (creditor, address): two soft bounces for two
    deliveries to it, committed at once, must not both see one bounce too few."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2::uuid::text || '|' || lower($3)))",
        _ADDRESS_LOCK,
        creditor_id,
        recipient,
    )


async def count_soft_bounces(conn: Connection, creditor_id: UUID, recipient: str, *, since: datetime) -> int:
    """Emitted bounces classified soft (escalated ones included) for a creditor's address,
    received after `since`. No upper bound: under the address lock, the bounces committed before
    are the earlier ones, even when a concurrent one took its timestamp a moment later."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM bounces b JOIN deliveries d ON d.delivery_id = b.delivery_id"
        " WHERE d.creditor_id = $1 AND lower(d.recipient) = lower($2)"
        " AND b.state = 'emitted' AND (b.kind = 'soft' OR b.escalated)"
        " AND b.received_at > $3",
        creditor_id,
        recipient,
        since,
    )
    return count


async def claim_webhook_token(conn: Connection, provider: str, token: str, signed_at: datetime) -> bool:
    """Record a signature token as used; False when it was used before (a replay)."""
    inserted = await conn.fetchval(
        "INSERT INTO webhook_tokens (provider, token, signed_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        provider,
        token,
        signed_at,
    )
    return bool(inserted)


async def prune_webhook_tokens(conn: Connection, before: datetime) -> None:
    """Tokens signed before `before` are refused as stale anyway: no need to remember them."""
    await conn.execute("DELETE FROM webhook_tokens WHERE signed_at < $1", before)


async def insert_webhook_event(conn: Connection, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO webhook_events ({columns}) VALUES ({placeholders})", *values.values())


BOUNCE_COLUMNS = (
    "id, delivery_id, inbound_message_id, state, recipient, reported_address, kind, status, reason,"
    " source, received_at, emitted_at, event_id, raw_sha256"
)


async def list_bounces(
    conn: Connection,
    *,
    delivery_id: UUID | None,
    state: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
    creditor_id: UUID | None = None,
    kind: str | None = None,
) -> list[Row]:
    """Newest first, keyset-paginated on (received_at, id); each with the delivery's creditor,
    debtor and claims when the delivery is known."""
    columns = ", ".join(f"b.{c.strip()}" for c in BOUNCE_COLUMNS.split(","))
    return list(
        await conn.fetch(
            f"SELECT {columns}, d.creditor_id, d.debtor_id, d.claim_ids FROM bounces b"
            " LEFT JOIN deliveries d ON d.delivery_id = b.delivery_id"
            " WHERE ($1::uuid IS NULL OR b.delivery_id = $1)"
            " AND ($2::text IS NULL OR b.state = $2)"
            " AND ($3::timestamptz IS NULL OR (b.received_at, b.id) < ($3, $4::uuid))"
            " AND ($6::uuid IS NULL OR d.creditor_id = $6)"
            " AND ($7::text IS NULL OR b.kind = $7)"
            " ORDER BY b.received_at DESC, b.id DESC LIMIT $5",
            delivery_id,
            state,
            after[0] if after else None,
            after[1] if after else None,
            limit,
            creditor_id,
            kind,
        )
    )
