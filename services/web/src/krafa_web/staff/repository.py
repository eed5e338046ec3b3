"""SQL of the staff tables (schema `web`): users, sessions, the audit and case notes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def add_user(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO staff_users ({columns}) VALUES ({params})", *values.values())


async def user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM staff_users WHERE lower(email) = lower($1) AND disabled_at IS NULL", email
    )


async def user_by_id(conn: asyncpg.Connection, user_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM staff_users WHERE id = $1" + (" FOR UPDATE" if lock else ""), user_id)


async def users_of(conn: asyncpg.Connection, creditor_id: UUID | None) -> list[asyncpg.Record]:
    if creditor_id is None:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT * FROM staff_users WHERE creditor_id IS NULL ORDER BY lower(email)"
        )
        return rows
    rows = await conn.fetch("SELECT * FROM staff_users WHERE creditor_id = $1 ORDER BY lower(email)", creditor_id)
    return rows


async def disable_user(conn: asyncpg.Connection, user_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE staff_users SET disabled_at = $2 WHERE id = $1", user_id, now)
    await conn.execute("UPDATE staff_sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL", user_id, now)


async def use_totp_step(conn: asyncpg.Connection, user_id: UUID, step: int) -> bool:
    """Record the step a code was used in; False when it (or a later one) was used already."""
    row = await conn.fetchval(
        "UPDATE staff_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2 RETURNING 1", user_id, step
    )
    return row is not None


async def create_session(
    conn: asyncpg.Connection, *, session_id: UUID, token_hash: bytes, csrf: str, user_id: UUID, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO staff_sessions (id, token_hash, csrf, user_id, created_at, last_seen_at)"
        " VALUES ($1, $2, $3, $4, $5, $5)",
        session_id,
        token_hash,
        csrf,
        user_id,
        now,
    )


async def session_by_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT s.id, s.csrf, s.created_at, s.last_seen_at, s.verified_at, s.user_id, u.creditor_id, u.email,"
        " u.name, u.role, u.departments, u.serves, u.language, u.disabled_at"
        " FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id"
        " WHERE s.token_hash = $1 AND s.ended_at IS NULL",
        token_hash,
    )


async def set_language(conn: asyncpg.Connection, user_id: UUID, language: str) -> None:
    await conn.execute("UPDATE staff_users SET language = $2 WHERE id = $1", user_id, language)


async def touch_session(conn: asyncpg.Connection, session_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE staff_sessions SET last_seen_at = $2 WHERE id = $1", session_id, now)


async def verify_session(
    conn: asyncpg.Connection, session_id: UUID, token_hash: bytes, csrf: str, now: datetime
) -> None:
    """The TOTP step passed: the session gets a new cookie (no fixation) and a new CSRF token."""
    await conn.execute(
        "UPDATE staff_sessions SET verified_at = $2, last_seen_at = $2, token_hash = $3, csrf = $4 WHERE id = $1",
        session_id,
        now,
        token_hash,
        csrf,
    )


async def end_session(conn: asyncpg.Connection, session_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE staff_sessions SET ended_at = $2 WHERE id = $1", session_id, now)


async def audit(
    conn: asyncpg.Connection,
    *,
    at: datetime,
    recorded_at: datetime,
    creditor_id: UUID | None,
    user_id: UUID | None,
    email: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
) -> None:
    await conn.execute(
        "INSERT INTO staff_audit (at, recorded_at, creditor_id, user_id, email, action, target, detail, outcome)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        at,
        recorded_at,
        creditor_id,
        user_id,
        email,
        action,
        target,
        # The pool's jsonb codec encodes; round-tripped through json so dates and UUIDs become text.
        json.loads(json.dumps(detail or {}, default=str)),
        outcome,
    )


async def recent_failures(conn: asyncpg.Connection, user_id: UUID, since: datetime) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM staff_audit WHERE user_id = $1 AND action LIKE 'login.%' AND outcome = 'refused'"
        " AND recorded_at >= $2 AND recorded_at > coalesce((SELECT max(recorded_at) FROM staff_audit"
        " WHERE user_id = $1 AND action = 'login'"
        " AND outcome = 'ok'), '-infinity')",
        user_id,
        since,
    )
    return value


async def audit_of(
    conn: asyncpg.Connection, creditor_id: UUID | None, *, target: str | None = None, limit: int = 200
) -> list[asyncpg.Record]:
    where: list[str] = ["creditor_id IS NOT DISTINCT FROM $1"]
    params: list[Any] = [creditor_id]
    if target is not None:
        params.append(target)
        where.append(f"target = ${len(params)}")
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT * FROM staff_audit WHERE {' AND '.join(where)} ORDER BY at DESC, id DESC LIMIT {int(limit)}",
        *params,
    )
    return rows


async def add_note(
    conn: asyncpg.Connection,
    *,
    creditor_id: UUID,
    debtor_id: UUID,
    at: datetime,
    user_id: UUID,
    author: str,
    body: str,
) -> None:
    await conn.execute(
        "INSERT INTO case_notes (creditor_id, debtor_id, at, user_id, author, body) VALUES ($1, $2, $3, $4, $5, $6)",
        creditor_id,
        debtor_id,
        at,
        user_id,
        author,
        body,
    )


async def notes_of(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM case_notes WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY at DESC", creditor_id, debtor_id
    )
    return rows


async def record_notice(
    conn: asyncpg.Connection,
    *,
    notice_id: UUID,
    creditor_id: UUID,
    claim_ids: list[UUID],
    handover_at: datetime,
    noticed_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO handover_notices (notice_id, claim_id, creditor_id, handover_at, noticed_at)"
        " SELECT $1, c, $2, $4, $5 FROM unnest($3::uuid[]) AS c ON CONFLICT DO NOTHING",
        notice_id,
        creditor_id,
        claim_ids,
        handover_at,
        noticed_at,
    )


async def notices_of(conn: asyncpg.Connection, creditor_id: UUID, since: datetime) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM handover_notices WHERE creditor_id = $1 AND handover_at >= $2 ORDER BY handover_at, claim_id",
        creditor_id,
        since,
    )
    return rows


async def decide_notice(
    conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID, decision: str, by: str, now: datetime
) -> asyncpg.Record | None:
    """The latest notice of the claim gets the decision; None when the creditor has none for it."""
    return await conn.fetchrow(
        "UPDATE handover_notices SET decision = $3, decided_by = $4, decided_at = $5"
        " WHERE (notice_id, claim_id) = (SELECT notice_id, claim_id FROM handover_notices"
        "  WHERE creditor_id = $1 AND claim_id = $2 ORDER BY handover_at DESC LIMIT 1) RETURNING *",
        creditor_id,
        claim_id,
        decision,
        by,
        now,
    )


async def latest_promises(conn: asyncpg.Connection, creditor_ids: list[UUID], targets: list[str]) -> dict[str, str]:
    """The date of the latest promise to pay recorded at the desk for each `debtor:<id>` target."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (creditor_id, target) creditor_id, target, detail->>'promised_date' AS promised"
        " FROM staff_audit WHERE action = 'call.promise_to_pay' AND outcome = 'ok'"
        " AND creditor_id = ANY($1::uuid[]) AND target = ANY($2::text[])"
        " ORDER BY creditor_id, target, at DESC",
        creditor_ids,
        targets,
    )
    return {f"{r['creditor_id']}/{r['target']}": r["promised"] for r in rows if r["promised"]}


# -- single sign-on -------------------------------------------------------------------------------


async def sso_of(conn: asyncpg.Connection, creditor_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM creditor_sso WHERE creditor_id = $1", creditor_id)


async def sso_for_domain(conn: asyncpg.Connection, domain: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM creditor_sso WHERE enabled AND $1 = ANY(domains)", domain)


async def sso_domain_owners(conn: asyncpg.Connection, domains: list[str], creditor_id: UUID) -> list[str]:
    """The domains of `domains` another creditor's single sign-on has claimed already."""
    rows = await conn.fetch(
        "SELECT DISTINCT d FROM creditor_sso, unnest(domains) AS d WHERE creditor_id <> $2 AND d = ANY($1::text[])",
        domains,
        creditor_id,
    )
    return sorted(r["d"] for r in rows)


async def put_sso(
    conn: asyncpg.Connection,
    *,
    creditor_id: UUID,
    issuer: str,
    client_id: str,
    client_secret_sealed: str | None,
    keep_secret: bool,
    domains: list[str],
    enabled: bool,
    required: bool,
    at: datetime,
    by: str,
) -> None:
    await conn.execute(
        "INSERT INTO creditor_sso (creditor_id, issuer, client_id, client_secret_sealed, domains, enabled,"
        " updated_at, updated_by, required) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10)"
        " ON CONFLICT (creditor_id) DO UPDATE SET issuer = $2, client_id = $3,"
        " client_secret_sealed = CASE WHEN $9 THEN creditor_sso.client_secret_sealed ELSE $4 END,"
        " domains = $5, enabled = $6, updated_at = $7, updated_by = $8, required = $10",
        creditor_id,
        issuer,
        client_id,
        client_secret_sealed,
        domains,
        enabled,
        at,
        by,
        keep_secret,
        required,
    )


async def sso_required(conn: asyncpg.Connection, creditor_id: UUID | None) -> bool:
    """Whether the creditor's staff must sign in at its provider (its single sign-on on and required)."""
    if creditor_id is None:
        return False
    value = await conn.fetchval("SELECT enabled AND required FROM creditor_sso WHERE creditor_id = $1", creditor_id)
    return bool(value)


async def add_sso_login(
    conn: asyncpg.Connection,
    *,
    state_hash: bytes,
    browser_hash: bytes,
    creditor_id: UUID,
    nonce: str,
    verifier: str,
    next_path: str,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO staff_sso_logins (state_hash, browser_hash, creditor_id, nonce, verifier, next_path, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        state_hash,
        browser_hash,
        creditor_id,
        nonce,
        verifier,
        next_path,
        at,
    )
    # Sign-ins abandoned at the provider are of no use after a day.
    await conn.execute("DELETE FROM staff_sso_logins WHERE created_at < $1::timestamptz - interval '1 day'", at)


async def take_sso_login(conn: asyncpg.Connection, state_hash: bytes, at: datetime) -> asyncpg.Record | None:
    """The sign-in of a state, marked used (it works once); None when unknown or used."""
    return await conn.fetchrow(
        "UPDATE staff_sso_logins SET finished_at = $2 WHERE state_hash = $1 AND finished_at IS NULL RETURNING *",
        state_hash,
        at,
    )


async def sso_candidates(conn: asyncpg.Connection, creditor_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, email, sso_issuer, sso_subject FROM staff_users WHERE creditor_id = $1 AND disabled_at IS NULL",
        creditor_id,
    )
    return rows


async def bind_sso(conn: asyncpg.Connection, user_id: UUID, issuer: str, subject: str) -> None:
    await conn.execute(
        "UPDATE staff_users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1 AND sso_subject IS NULL",
        user_id,
        issuer,
        subject,
    )


async def create_verified_session(
    conn: asyncpg.Connection, *, session_id: UUID, token_hash: bytes, csrf: str, user_id: UUID, now: datetime
) -> None:
    """A session that needs no TOTP step: the creditor's provider authenticated the person."""
    await conn.execute(
        "INSERT INTO staff_sessions (id, token_hash, csrf, user_id, created_at, last_seen_at, verified_at)"
        " VALUES ($1, $2, $3, $4, $5, $5, $5)",
        session_id,
        token_hash,
        csrf,
        user_id,
        now,
    )
