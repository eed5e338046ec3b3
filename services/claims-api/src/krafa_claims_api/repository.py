"""SQL of claims-api. Every query that reads claims or debtors is scoped to a creditor."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from krafa_claims_api.ledger import OPENING_CHARGE_INSERT

CLAIM_COLUMNS = """
    c.id, c.creditor_id, c.debtor_id, c.invoice_no, c.amount_minor, c.fees_minor, c.paid_minor,
    c.currency, c.issue_date, c.due_date, c.final_due_date, c.reference, c.description,
    c.department, c.status, c.overdue, c.created_at, c.paid_at, c.cancelled_at, c.cancel_reason, d.customer_no,
    c.interest_minor, c.written_off_minor, c.dispute_reason, c.held_until, c.stage, c.payment, c.changed_at
"""


# What a new claim's row holds after INSERT (CLAIM_COLUMNS but the debtor's customer number).
CREATED_COLUMNS = """
    id, creditor_id, debtor_id, invoice_no, amount_minor, fees_minor, paid_minor, currency, issue_date, due_date,
    final_due_date, reference, description, department, status, overdue, created_at, paid_at, cancelled_at,
    cancel_reason, interest_minor, written_off_minor, dispute_reason, held_until, stage, payment, changed_at
"""


@dataclass(slots=True)
class NewClaims:
    """New claims column by column, as `insert_claims` sends them (one array per column)."""

    id: list[UUID] = field(default_factory=list)
    debtor_id: list[UUID] = field(default_factory=list)
    invoice_no: list[str] = field(default_factory=list)
    amount_minor: list[int] = field(default_factory=list)
    fees_minor: list[int] = field(default_factory=list)
    currency: list[str] = field(default_factory=list)
    issue_date: list[date] = field(default_factory=list)
    due_date: list[date] = field(default_factory=list)
    final_due_date: list[date] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    description: list[str | None] = field(default_factory=list)
    department: list[str | None] = field(default_factory=list)
    # The claim's PaymentIdentity as JSON text (cast to jsonb in the insert).
    payment: list[str] = field(default_factory=list)
    # The id of the claim's ClaimCreated, which its history row names.
    event_id: list[UUID] = field(default_factory=list)

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            getattr(self, name).append(value)


# The PostgreSQL type of each NewClaims column, in field order.
_NEW_CLAIM_TYPES = [
    "uuid",
    "uuid",
    "text",
    "bigint",
    "bigint",
    "text",
    "date",
    "date",
    "date",
    "text",
    "text",
    "text",
    "text",
    "uuid",
]
_NEW_CLAIM_NAMES = [f.name for f in fields(NewClaims)]
_UNNEST = ", ".join(f"${i + 4}::{t}[]" for i, t in enumerate(_NEW_CLAIM_TYPES))
_CLAIM_COLUMNS = ", ".join(_NEW_CLAIM_NAMES[:-1])
INSERT_CLAIMS = f"""
    WITH u AS (
        SELECT * FROM unnest({_UNNEST}) AS u({", ".join(_NEW_CLAIM_NAMES)})
    ), c AS (
        INSERT INTO claims (creditor_id, created_at, {_CLAIM_COLUMNS})
        SELECT $1, $2, {_CLAIM_COLUMNS.replace("payment", "payment::jsonb")} FROM u
        RETURNING {CREATED_COLUMNS}
    ), ledger AS (
        {OPENING_CHARGE_INSERT.format(source="c")}
    ), history AS (
        INSERT INTO claim_history (claim_id, event_id, event_type, occurred_at, details)
        SELECT id, event_id, $3, $2,
               jsonb_build_object('amount_minor', amount_minor, 'fees_minor', fees_minor, 'currency', currency)
        FROM u
    )
    SELECT * FROM c
"""


async def insert_claims(
    conn: asyncpg.Connection, creditor_id: UUID, now: datetime, new: NewClaims, event_type: str
) -> list[asyncpg.Record]:
    """Insert new claims with their opening ledger charge and their `event_type` history row, in
    one statement whatever their number; returns the claims rows (CREATED_COLUMNS) in `new`'s
    order. A duplicate invoice number or reference raises UniqueViolationError and inserts nothing."""
    rows = await conn.fetch(
        INSERT_CLAIMS, creditor_id, now, event_type, *(getattr(new, name) for name in _NEW_CLAIM_NAMES)
    )
    by_id = {row["id"]: row for row in rows}
    return [by_id[claim_id] for claim_id in new.id]


async def holders(
    conn: asyncpg.Connection, creditor_id: UUID, invoice_nos: list[str], references: list[str]
) -> list[asyncpg.Record]:
    """Claims that already hold one of these invoice numbers (of this creditor) or payment
    references (of any creditor: a reference is unique across all of them)."""
    return list(
        await conn.fetch(
            "SELECT id, creditor_id, invoice_no, reference FROM claims"
            " WHERE (creditor_id = $1 AND invoice_no = ANY($2::text[])) OR reference = ANY($3::text[])",
            creditor_id,
            invoice_nos,
            references,
        )
    )


async def get_creditor(conn: asyncpg.Connection, creditor_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM creditors WHERE id = $1", creditor_id)


async def find_api_key(conn: asyncpg.Connection, prefix: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, creditor_id, secret_hash, scopes FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        prefix,
    )


async def get_claim(conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CLAIM_COLUMNS} FROM claims c JOIN debtors d ON d.id = c.debtor_id"
        " WHERE c.id = $1 AND c.creditor_id = $2",
        claim_id,
        creditor_id,
    )


async def get_claim_by_invoice_no(
    conn: asyncpg.Connection, creditor_id: UUID, invoice_no: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CLAIM_COLUMNS} FROM claims c JOIN debtors d ON d.id = c.debtor_id"
        " WHERE c.creditor_id = $1 AND c.invoice_no = $2",
        creditor_id,
        invoice_no,
    )


async def get_claim_for_update(conn: asyncpg.Connection, claim_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM claims WHERE id = $1 FOR UPDATE", claim_id)


async def history_with_ids(conn: asyncpg.Connection, claim_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT event_id, event_type, occurred_at, details FROM claim_history WHERE claim_id = $1"
            " ORDER BY occurred_at, id",
            claim_id,
        )
    )


async def instalments(conn: asyncpg.Connection, claim_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT no, due_date, amount_minor FROM claim_instalments WHERE claim_id = $1 ORDER BY no", claim_id
        )
    )


async def department_offsets(conn: asyncpg.Connection, creditor_id: UUID) -> dict[str, int]:
    rows = await conn.fetch("SELECT key, final_due_offset_days FROM departments WHERE creditor_id = $1", creditor_id)
    return {r["key"]: r["final_due_offset_days"] for r in rows}


async def history(conn: asyncpg.Connection, claim_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT event_type, occurred_at, details FROM claim_history WHERE claim_id = $1 ORDER BY occurred_at, id",
            claim_id,
        )
    )


async def add_history(conn: asyncpg.Connection, rows: list[tuple[UUID, UUID, str, Any, dict[str, Any]]]) -> None:
    await conn.executemany(
        "INSERT INTO claim_history (claim_id, event_id, event_type, occurred_at, details)"
        " SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM claims WHERE id = $1)"
        " ON CONFLICT DO NOTHING",
        rows,
    )


async def list_claims(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    *,
    filters: dict[str, Any],
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of the creditor's claims in (created_at, id) order. `filters` keys: status,
    customer_no, department, due_from, due_to, updated_since, due_on_or_before (for overdue_days_min)."""
    where = ["c.creditor_id = $1"]
    args: list[Any] = [creditor_id]

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.format(f"${len(args)}"))

    if filters.get("status") is not None:
        add("c.status = {}", filters["status"])
    if filters.get("customer_no") is not None:
        add("d.customer_no = {}", filters["customer_no"])
    if filters.get("department") is not None:
        add("c.department = {}", filters["department"])
    if filters.get("due_from") is not None:
        add("c.due_date >= {}", filters["due_from"])
    if filters.get("due_to") is not None:
        add("c.due_date <= {}", filters["due_to"])
    if filters.get("updated_since") is not None:
        add("c.changed_at >= {}", filters["updated_since"])
    if filters.get("due_on_or_before") is not None:
        where.append("c.status = 'open'")
        add("c.due_date <= {}", filters["due_on_or_before"])
    if after is not None:
        args.extend(after)
        where.append(f"(c.created_at, c.id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    return list(
        await conn.fetch(
            f"SELECT {CLAIM_COLUMNS} FROM claims c JOIN debtors d ON d.id = c.debtor_id"
            f" WHERE {' AND '.join(where)} ORDER BY c.created_at, c.id LIMIT ${len(args)}",
            *args,
        )
    )


async def aging_groups(conn: asyncpg.Connection, creditor_id: UUID, as_of: Any) -> list[tuple[str, int, int, int]]:
    """Open balances (amount + fees + interest - paid - written off > 0) of claims issued by `as_of`,
    grouped by currency and days past the due date."""
    rows = await conn.fetch(
        "SELECT currency, $2::date - due_date AS days, count(*) AS n,"
        " sum(amount_minor + fees_minor + interest_minor - paid_minor - written_off_minor) AS balance"
        " FROM claims WHERE creditor_id = $1 AND status = 'open' AND issue_date <= $2"
        " AND amount_minor + fees_minor + interest_minor - paid_minor - written_off_minor > 0 GROUP BY 1, 2",
        creditor_id,
        as_of,
    )
    return [(r["currency"], r["days"], r["n"], int(r["balance"])) for r in rows]
