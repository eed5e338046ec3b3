"""SQL of the web's own tables (schema `web`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from krafa_web.domain import Principal


async def record_link(
    conn: asyncpg.Connection,
    *,
    code_hash: bytes,
    delivery_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    claim_ids: list[UUID],
    channel: str,
    sent_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO portal_links (code_hash, delivery_id, creditor_id, debtor_id, claim_ids, channel, sent_at,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        code_hash,
        delivery_id,
        creditor_id,
        debtor_id,
        claim_ids,
        channel,
        sent_at,
        expires_at,
    )


async def get_link(conn: asyncpg.Connection, code_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM portal_links WHERE code_hash = $1", code_hash)


async def spend_link(conn: asyncpg.Connection, code_hash: bytes, now: datetime) -> bool:
    """Mark the link used; False when it already was (a second session never starts from it)."""
    row = await conn.fetchval(
        "UPDATE portal_links SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING 1", code_hash, now
    )
    return row is not None


async def create_challenge(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO login_challenges ({columns}) VALUES ({params})", *values.values())


async def challenge_by_token(
    conn: asyncpg.Connection, token_hash: bytes, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM login_challenges WHERE token_hash = $1" + (" FOR UPDATE" if lock else ""), token_hash
    )


async def challenge_by_state(conn: asyncpg.Connection, state: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM login_challenges WHERE oidc_state = $1 FOR UPDATE", state)


async def count_attempt(conn: asyncpg.Connection, challenge_id: UUID) -> int:
    value: int = await conn.fetchval(
        "UPDATE login_challenges SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", challenge_id
    )
    return value


async def finish_challenge(conn: asyncpg.Connection, challenge_id: UUID, outcome: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE login_challenges SET finished_at = $2, outcome = $3 WHERE id = $1", challenge_id, now, outcome
    )


async def add_failure(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO login_failures (creditor_id, debtor_id, at) VALUES ($1, $2, $3)", creditor_id, debtor_id, at
    )


async def recent_failures(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, since: datetime) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM login_failures WHERE creditor_id = $1 AND debtor_id = $2 AND at >= $3",
        creditor_id,
        debtor_id,
        since,
    )
    return value


async def create_session(
    conn: asyncpg.Connection,
    *,
    session_id: UUID,
    token_hash: bytes,
    csrf: str,
    principals: list[Principal],
    via: str,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, token_hash, csrf, principals, via, created_at, last_seen_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        session_id,
        token_hash,
        csrf,
        [{"creditor_id": str(p.creditor_id), "debtor_id": str(p.debtor_id)} for p in principals],
        via,
        now,
    )


async def session_by_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM sessions WHERE token_hash = $1 AND ended_at IS NULL", token_hash)


async def touch_session(conn: asyncpg.Connection, session_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE sessions SET last_seen_at = $2 WHERE id = $1", session_id, now)


async def end_session(conn: asyncpg.Connection, session_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL", session_id, now)


def principals_of(row: Any) -> list[Principal]:
    raw = row["principals"]
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [Principal(UUID(p["creditor_id"]), UUID(p["debtor_id"])) for p in items]


async def create_verification(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO contact_verifications ({columns}) VALUES ({params})", *values.values())


async def open_verification(conn: asyncpg.Connection, session_id: UUID, now: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM contact_verifications WHERE session_id = $1 AND finished_at IS NULL AND expires_at > $2"
        " ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
        session_id,
        now,
    )


async def count_verification_attempt(conn: asyncpg.Connection, verification_id: UUID) -> int:
    value: int = await conn.fetchval(
        "UPDATE contact_verifications SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", verification_id
    )
    return value


async def finish_verification(conn: asyncpg.Connection, verification_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE contact_verifications SET finished_at = $2 WHERE id = $1", verification_id, now)


async def audit(
    conn: asyncpg.Connection,
    at: datetime,
    event: str,
    principal: Principal | None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO login_audit (at, creditor_id, debtor_id, event, detail) VALUES ($1, $2, $3, $4, $5)",
        at,
        principal.creditor_id if principal else None,
        principal.debtor_id if principal else None,
        event,
        detail,
    )


async def audit_for(conn: asyncpg.Connection, principal: Principal) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, event, detail FROM login_audit WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY at",
            principal.creditor_id,
            principal.debtor_id,
        )
    )
