"""SQL of the portal's own tables: self-service terms and arrangement requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import event_family

from krafa_claims_api import repository as claims_repository
from krafa_claims_api.portal.domain import DEFAULT_TERMS, Terms

TERM_FIELDS = (
    "max_deferral_days",
    "max_instalments",
    "max_plan_days",
    "min_instalment_minor",
    "interval_days",
    "requests_allowed",
)


async def terms(conn: asyncpg.Connection, creditor_id: UUID, department: str | None) -> Terms:
    """The department's terms, else the creditor's, else the defaults."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(TERM_FIELDS)} FROM self_service_terms WHERE creditor_id = $1 AND department IN ('', $2)"
        " ORDER BY department DESC LIMIT 1",
        creditor_id,
        department or "",
    )
    return Terms(**dict(row)) if row else DEFAULT_TERMS


async def put_terms(conn: asyncpg.Connection, creditor_id: UUID, department: str, value: Terms, now: datetime) -> None:
    await conn.execute(
        f"INSERT INTO self_service_terms (creditor_id, department, {', '.join(TERM_FIELDS)}, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (creditor_id, department) DO UPDATE SET"
        + ", ".join(f" {f} = excluded.{f}" for f in TERM_FIELDS)
        + ", updated_at = excluded.updated_at",
        creditor_id,
        department,
        *(getattr(value, f) for f in TERM_FIELDS),
        now,
    )


async def debtor_claims(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {claims_repository.CLAIM_COLUMNS} FROM claims c JOIN debtors d ON d.id = c.debtor_id"
            " WHERE c.creditor_id = $1 AND c.debtor_id = $2 ORDER BY c.due_date DESC, c.invoice_no",
            creditor_id,
            debtor_id,
        )
    )


async def self_service_used(conn: asyncpg.Connection, claim_id: UUID) -> set[str]:
    """The events (by family, any version) the debtor has already been granted on this claim by
    self-service."""
    rows = await conn.fetch(
        "SELECT DISTINCT event_type FROM claim_history WHERE claim_id = $1 AND details->>'source' = 'debtor'",
        claim_id,
    )
    return {event_family(r["event_type"]) for r in rows}


async def insert_request(
    conn: asyncpg.Connection,
    *,
    request_id: UUID,
    claim: asyncpg.Record,
    kind: str,
    due_date: date | None,
    instalments: list[tuple[date, int]] | None,
    note: str | None,
    reasons: tuple[str, ...],
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO arrangement_requests (id, creditor_id, debtor_id, claim_id, kind, due_date, instalments, note,"
        " reasons, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        request_id,
        claim["creditor_id"],
        claim["debtor_id"],
        claim["id"],
        kind,
        due_date,
        [{"due_date": d.isoformat(), "amount_minor": a} for d, a in instalments] if instalments is not None else None,
        note,
        list(reasons),
        now,
    )


REQUEST_COLUMNS = (
    "id, creditor_id, debtor_id, claim_id, kind, due_date, instalments, note, reasons, status, created_at,"
    " decided_at, decision_note"
)


async def pending_request(conn: asyncpg.Connection, claim_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM arrangement_requests WHERE claim_id = $1 AND status = 'pending'", claim_id
    )


async def requests_for_claims(conn: asyncpg.Connection, claim_ids: list[UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {REQUEST_COLUMNS} FROM arrangement_requests WHERE claim_id = ANY($1::uuid[]) ORDER BY created_at",
            claim_ids,
        )
    )


async def get_request(
    conn: asyncpg.Connection, creditor_id: UUID, request_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM arrangement_requests WHERE id = $1 AND creditor_id = $2"
        + (" FOR UPDATE" if lock else ""),
        request_id,
        creditor_id,
    )


async def list_requests(conn: asyncpg.Connection, creditor_id: UUID, status: str | None) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {REQUEST_COLUMNS} FROM arrangement_requests WHERE creditor_id = $1"
            " AND ($2::text IS NULL OR status = $2) ORDER BY created_at LIMIT 500",
            creditor_id,
            status,
        )
    )


async def decide_request(
    conn: asyncpg.Connection, request_id: UUID, status: str, note: str | None, now: datetime
) -> None:
    await conn.execute(
        "UPDATE arrangement_requests SET status = $2, decision_note = $3, decided_at = $4 WHERE id = $1",
        request_id,
        status,
        note,
        now,
    )


async def debtors_by_national_id(conn: asyncpg.Connection, national_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT d.creditor_id, d.id AS debtor_id, c.name AS creditor_name FROM debtors d"
            " JOIN creditors c ON c.id = d.creditor_id WHERE d.national_id = $1 AND d.erased_at IS NULL"
            " ORDER BY c.name",
            national_id,
        )
    )


def instalments_of(row: Any) -> list[tuple[date, int]]:
    items = row["instalments"] or []
    return [(date.fromisoformat(i["due_date"]), int(i["amount_minor"])) for i in items]
