"""Signed webhooks to creditors (Standard Webhooks).

`enqueue_webhook` writes one delivery row per subscribed endpoint in the caller's transaction, so
a webhook exists exactly when the change that caused it commits (the outbox pattern). The
`WebhookWorker` leases due rows with FOR UPDATE SKIP LOCKED (safe with several replicas), POSTs
them signed, and reschedules failures on a backoff schedule until they are delivered or given up.
Every attempt is logged for the delivery-log endpoint.

Signature: `webhook-signature: v1,<base64 HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}">`
keyed with the base64-decoded part of the endpoint's `whsec_...` secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from krafa_kit.db import Database

log = logging.getLogger(__name__)

EVENT_TYPES = ("claim.paid", "claim.disputed", "claim.handover_pending", "payment.unmatched", "contact.bounced")
SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
# Standard Webhooks' suggested schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h; then the delivery is marked failed (it stays in the log).
RETRY_DELAYS_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
LEASE_S = 60
USER_AGENT = "Krafa-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute and compare every v1 signature, reject stale timestamps."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def encode_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def enqueue_webhook(conn: asyncpg.Connection, creditor_id: UUID, event_type: str, data: dict[str, Any]) -> None:
    """Queue `event_type` for every active endpoint of the creditor that subscribes to it, in the
    caller's transaction. Does nothing when the creditor has no such endpoint."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook type {event_type!r}")
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    await conn.execute(
        "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, creditor_id, event_type, payload)"
        " SELECT gen_random_uuid(), $1, id, creditor_id, $3, $4 FROM webhook_endpoints"
        " WHERE creditor_id = $2 AND disabled_at IS NULL AND $3 = ANY(event_types)",
        message_id,
        creditor_id,
        event_type,
        json.loads(json.dumps(payload, default=str)),
    )


class WebhookWorker:
    """Background loop delivering due webhooks. `retry_delays_s` and `poll_interval_s` are
    attributes so tests (and operators) can shorten them."""

    def __init__(
        self,
        db: Database,
        *,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        poll_interval_s: float = 0.5,
        timeout_s: float = 10.0,
        batch_size: int = 20,
    ) -> None:
        self.db = db
        self.retry_delays_s = retry_delays_s
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.delivered = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, headers={"user-agent": USER_AGENT}
        ) as client:
            while True:
                try:
                    done = await self.deliver_due(client)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("webhook worker: database unavailable", extra={"error": repr(exc)})
                    done = 0
                if done == 0:
                    await asyncio.sleep(self.poll_interval_s)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Lease a batch of due deliveries, send them concurrently, record the outcomes."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)"
                " FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND d.id IN ("
                "  SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()"
                "  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
                " RETURNING d.id, d.message_id, d.payload, d.attempts, e.url, e.secret",
                self.batch_size,
                float(LEASE_S),
            )
        if not rows:
            return 0
        await asyncio.gather(*(self._deliver(client, row) for row in rows))
        return len(rows)

    async def _deliver(self, client: httpx.AsyncClient, row: asyncpg.Record) -> None:
        body = encode_body(row["payload"])
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": row["message_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(row["secret"], row["message_id"], timestamp, body),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            response = await client.post(row["url"], content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.perf_counter() - started) * 1000)
        attempts = row["attempts"] + 1
        if error is None:
            status, delay = "delivered", 0.0
        elif attempts > len(self.retry_delays_s):
            status, delay = "failed", 0.0
        else:
            status, delay = "pending", self.retry_delays_s[attempts - 1]
        async with self.db.uow() as uow:
            await uow.conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, status_code, error, duration_ms) VALUES ($1, $2, $3, $4)",
                row["id"],
                status_code,
                error,
                duration_ms,
            )
            await uow.conn.execute(
                "UPDATE webhook_deliveries SET attempts = $2, status = $3, last_status_code = $4, last_error = $5,"
                " next_attempt_at = now() + make_interval(secs => $6),"
                " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END WHERE id = $1",
                row["id"],
                attempts,
                status,
                status_code,
                error,
                delay,
            )
            await uow.commit()
        if status == "delivered":
            self.delivered += 1
        else:
            log.info("webhook attempt failed", extra={"delivery": str(row["id"]), "error": error, "status": status})


async def create_endpoint(
    conn: asyncpg.Connection, creditor_id: UUID, url: str, event_types: list[str], description: str | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (id, creditor_id, url, secret, event_types, description)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        uuid.uuid4(),
        creditor_id,
        url,
        new_secret(),
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
    return await conn.fetchrow(
        "UPDATE webhook_endpoints SET disabled_at = coalesce(disabled_at, now())"
        " WHERE id = $1 AND creditor_id = $2 RETURNING *",
        endpoint_id,
        creditor_id,
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
            "SELECT d.id, d.message_id, d.event_type, d.payload, d.status, d.attempts, d.last_status_code,"
            " d.last_error, d.created_at, d.delivered_at, d.next_attempt_at,"
            " coalesce((SELECT jsonb_agg(jsonb_build_object('attempted_at', a.attempted_at, 'status_code',"
            " a.status_code, 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.id)"
            " FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempt_log"
            " FROM webhook_deliveries d WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2",
            endpoint_id,
            limit,
        )
    )
