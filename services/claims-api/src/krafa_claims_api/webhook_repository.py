"""The SQL of creditors' webhooks: endpoints, queued deliveries and their attempts
(krafa_claims_api.webhooks queues and delivers them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from krafa_kit.wakeup import notify_due

# What the worker listens for (Runtime.wake_on_due): deliveries queued or queued again, due now.
WORK = "webhooks"


async def add_deliveries(
    conn: asyncpg.Connection, message_id: str, creditor_id: UUID, event_type: str, payload: dict[str, Any]
) -> None:
    """One delivery per active endpoint of the creditor that subscribes to `event_type`; when there
    is one, the worker is woken at commit (WORK)."""
    await conn.execute(
        # A sandbox's webhooks say so (docs/adr/0015), so one receiving URL can tell them apart.
        "WITH added AS (INSERT INTO webhook_deliveries (id, message_id, endpoint_id, creditor_id, event_type, payload)"
        " SELECT gen_random_uuid(), $1, id, creditor_id, $3,"
        " $4::jsonb || jsonb_build_object('sandbox',"
        "  (SELECT c.sandbox_of IS NOT NULL FROM creditors c WHERE c.id = $2))"
        " FROM webhook_endpoints"
        " WHERE creditor_id = $2 AND disabled_at IS NULL AND $3 = ANY(event_types) RETURNING 1)"
        f" SELECT {notify_due(WORK)} WHERE EXISTS (SELECT FROM added)",
        message_id,
        creditor_id,
        event_type,
        payload,
    )


async def lease_due(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Up to `limit` due deliveries with their endpoint, leased for `lease_s` (replicas skip each
    other's; a lease that runs out makes the delivery due again)."""
    return list(
        await conn.fetch(
            "UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)"
            " FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.disabled_at IS NULL AND d.id IN ("
            "  SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()"
            "  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING d.id, d.message_id, d.creditor_id, d.payload, d.attempts, e.url, e.secret",
            limit,
            lease_s,
        )
    )


async def next_due_in_s(conn: asyncpg.Connection) -> float | None:
    """Wall seconds until the earliest pending delivery to an active endpoint may be tried
    (negative: due now, or leased by a replica until then); None when none is pending."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(d.next_attempt_at) - now()) FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL WHERE d.status = 'pending'"
    )
    return None if value is None else float(value)


async def record_attempt(
    conn: asyncpg.Connection,
    delivery_id: UUID,
    *,
    attempts: int,
    status: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    retry_in_s: float,
) -> None:
    await conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, status_code, error, duration_ms) VALUES ($1, $2, $3, $4)",
        delivery_id,
        status_code,
        error,
        duration_ms,
    )
    await conn.execute(
        "UPDATE webhook_deliveries SET attempts = $2, status = $3, last_status_code = $4, last_error = $5,"
        " next_attempt_at = now() + make_interval(secs => $6),"
        " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END WHERE id = $1 AND status = 'pending'",
        delivery_id,
        attempts,
        status,
        status_code,
        error,
        retry_in_s,
    )


async def create_endpoint(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    url: str,
    event_types: list[str],
    description: str | None,
    *,
    secret: str,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (id, creditor_id, url, secret, event_types, description)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        uuid.uuid4(),
        creditor_id,
        url,
        secret,
        event_types,
        description,
    )
    assert row is not None
    return row


async def list_endpoints(conn: asyncpg.Connection, creditor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch("SELECT * FROM webhook_endpoints WHERE creditor_id = $1 ORDER BY created_at, id", creditor_id)
    )


async def disable_endpoint(conn: asyncpg.Connection, creditor_id: UUID, endpoint_id: UUID) -> asyncpg.Record | None:
    """Disable an endpoint: nothing more is queued for it, and what was waiting for a retry is
    cancelled (an attempt already in flight records its outcome but is not retried)."""
    endpoint = await conn.fetchrow(
        "UPDATE webhook_endpoints SET disabled_at = coalesce(disabled_at, now())"
        " WHERE id = $1 AND creditor_id = $2 RETURNING *",
        endpoint_id,
        creditor_id,
    )
    if endpoint is not None:
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'cancelled', last_error = 'endpoint disabled'"
            " WHERE endpoint_id = $1 AND status = 'pending'",
            endpoint_id,
        )
    return endpoint


async def endpoint_state(conn: asyncpg.Connection, creditor_id: UUID, endpoint_id: UUID) -> str | None:
    """'active' or 'disabled'; None when the endpoint is not the creditor's."""
    row = await conn.fetchrow(
        "SELECT disabled_at FROM webhook_endpoints WHERE id = $1 AND creditor_id = $2", endpoint_id, creditor_id
    )
    if row is None:
        return None
    return "active" if row["disabled_at"] is None else "disabled"


async def requeue_failed(conn: asyncpg.Connection, endpoint_id: UUID, since: datetime | None) -> int:
    """Queue the endpoint's given-up deliveries created at or after `since` (None: all of them)
    again, due now, with the retry schedule from its start (their attempt log stays); how many."""
    count = await conn.fetchval(
        "WITH requeued AS (UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now()"
        " WHERE endpoint_id = $1 AND status = 'failed' AND ($2::timestamptz IS NULL OR created_at >= $2) RETURNING 1)"
        f" SELECT count(*) FROM (SELECT {notify_due(WORK)} FROM requeued) AS woken",
        endpoint_id,
        since,
    )
    return int(count)


DELIVERY_SELECT = (
    "SELECT d.id, d.message_id, d.event_type, d.payload, d.status, d.attempts, d.last_status_code,"
    " d.last_error, d.created_at, d.delivered_at, d.next_attempt_at,"
    " coalesce((SELECT jsonb_agg(jsonb_build_object('attempted_at', a.attempted_at, 'status_code',"
    " a.status_code, 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.id)"
    " FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempt_log"
    " FROM webhook_deliveries d"
)


async def deliveries(
    conn: asyncpg.Connection, creditor_id: UUID, endpoint_id: UUID, limit: int
) -> list[asyncpg.Record] | None:
    """The endpoint's newest deliveries with their attempts; None when it is not the creditor's."""
    owned = await conn.fetchval(
        "SELECT true FROM webhook_endpoints WHERE id = $1 AND creditor_id = $2", endpoint_id, creditor_id
    )
    if not owned:
        return None
    return list(
        await conn.fetch(
            DELIVERY_SELECT + " WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2",
            endpoint_id,
            limit,
        )
    )


async def delivery_status(
    conn: asyncpg.Connection, creditor_id: UUID, endpoint_id: UUID, delivery_id: UUID
) -> str | None:
    """The delivery's status, locked until the transaction ends; None when it is not one of the
    creditor's endpoint's."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2 AND creditor_id = $3 FOR UPDATE",
        delivery_id,
        endpoint_id,
        creditor_id,
    )
    return status


# -- the operators' view across creditors ---------------------------------------------------------


async def given_up(
    conn: asyncpg.Connection,
    *,
    creditor_id: UUID | None,
    endpoint_id: UUID | None,
    since: datetime | None,
    limit: int,
) -> tuple[int, list[asyncpg.Record]]:
    """Deliveries the worker gave up on (the last retry failed), newest first, across creditors or
    for one creditor or endpoint, each with its endpoint, its creditor's name and its last attempt;
    and how many there are in all."""
    where = (
        "d.status = 'failed' AND ($1::uuid IS NULL OR d.creditor_id = $1)"
        " AND ($2::uuid IS NULL OR d.endpoint_id = $2) AND ($3::timestamptz IS NULL OR d.created_at >= $3)"
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM webhook_deliveries d WHERE {where}", creditor_id, endpoint_id, since
    )
    rows = await conn.fetch(
        "SELECT d.id, d.message_id, d.creditor_id, c.name AS creditor_name, d.endpoint_id, e.url,"
        " e.disabled_at IS NOT NULL AS endpoint_disabled, d.event_type, d.attempts, d.last_status_code,"
        " d.last_error, d.created_at,"
        " (SELECT max(a.attempted_at) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS last_attempt_at"
        " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
        " JOIN creditors c ON c.id = d.creditor_id"
        f" WHERE {where} ORDER BY d.created_at DESC, d.id LIMIT $4",
        creditor_id,
        endpoint_id,
        since,
        limit,
    )
    return int(total), list(rows)


async def endpoint_state_any(conn: asyncpg.Connection, endpoint_id: UUID) -> str | None:
    """'active' or 'disabled', whoever's the endpoint is; None when there is no such endpoint."""
    row = await conn.fetchrow("SELECT disabled_at FROM webhook_endpoints WHERE id = $1", endpoint_id)
    if row is None:
        return None
    return "active" if row["disabled_at"] is None else "disabled"


async def delivery_status_any(conn: asyncpg.Connection, endpoint_id: UUID, delivery_id: UUID) -> str | None:
    """The status of one of the endpoint's deliveries; None when it is not the endpoint's."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2", delivery_id, endpoint_id
    )
    return status


async def resend(conn: asyncpg.Connection, delivery_id: UUID) -> asyncpg.Record:
    """Queue one delivery again, due now, with the retry schedule from its start and the same
    webhook-id (its attempt log stays); the delivery as the log shows it."""
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),"
        " delivered_at = NULL WHERE id = $1",
        delivery_id,
    )
    await conn.execute(f"SELECT {notify_due(WORK)}")
    row = await conn.fetchrow(DELIVERY_SELECT + " WHERE d.id = $1", delivery_id)
    assert row is not None
    return row


async def requeue_one(conn: asyncpg.Connection, endpoint_id: UUID, delivery_id: UUID) -> int:
    """Queue one given-up delivery of the endpoint again, as `requeue_failed` does; 1, or 0 when it
    is not (or no longer) given up."""
    count = await conn.fetchval(
        "WITH requeued AS (UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now()"
        " WHERE id = $1 AND endpoint_id = $2 AND status = 'failed' RETURNING 1)"
        f" SELECT count(*) FROM (SELECT {notify_due(WORK)} FROM requeued) AS woken",
        delivery_id,
        endpoint_id,
    )
    return int(count)
