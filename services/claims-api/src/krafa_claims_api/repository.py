"""SQL of claims-api. Every query that reads claims or debtors is scoped to a creditor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from krafa_kit.wakeup import notify_due

from krafa_claims_api.ledger_repository import OPENING_CHARGE_INSERT

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

# The columns of a new claim that the insert leaves to their defaults, as they read back: a claim
# starts open, owing its amount and fees, nothing paid, held, disputed or escalated.
_NEW_CLAIM_DEFAULTS: dict[str, Any] = {
    "paid_minor": 0,
    "status": "open",
    "overdue": False,
    "paid_at": None,
    "cancelled_at": None,
    "cancel_reason": None,
    "interest_minor": 0,
    "written_off_minor": 0,
    "dispute_reason": None,
    "held_until": None,
    "stage": None,
}


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
# Nothing is returned but the transaction's time (the new rows' changed_at): the caller knows
# every other value of the rows (see `insert_claims`), and reading 10,000 of them back cost as
# much as writing them. The ledger and history rows are made from the same input rows, so the
# statement does not wait for the claims' to be returned to it; their foreign keys are checked
# when it ends, with the claims in place.
INSERT_CLAIMS = f"""
    WITH u AS (
        SELECT * FROM unnest({_UNNEST}) AS u({", ".join(_NEW_CLAIM_NAMES)})
    ), c AS (
        INSERT INTO claims (creditor_id, created_at, {_CLAIM_COLUMNS})
        SELECT $1, $2, {_CLAIM_COLUMNS.replace("payment", "payment::jsonb")} FROM u
    ), ledger AS (
        {
    OPENING_CHARGE_INSERT.format(
        source="(SELECT id, $1::uuid AS creditor_id, amount_minor, fees_minor, currency,"
        " $2::timestamptz AS created_at FROM u) AS opening"
    )
}
    ), history AS (
        INSERT INTO claim_history (claim_id, event_id, event_type, occurred_at, details)
        SELECT id, event_id, $3, $2,
               jsonb_build_object('amount_minor', amount_minor, 'fees_minor', fees_minor, 'currency', currency)
        FROM u
    )
    SELECT now()
"""


async def insert_claims(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    now: datetime,
    new: NewClaims,
    event_type: str,
    payments: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Insert new claims with their opening ledger charge and their `event_type` history row, in
    one statement whatever their number; returns the claims as their rows read back
    (CREATED_COLUMNS), in `new`'s order, `payments` (each claim's payment identity as a dict)
    their `payment`. A duplicate invoice number or reference raises UniqueViolationError and
    inserts nothing."""
    changed_at = await conn.fetchval(
        INSERT_CLAIMS, creditor_id, now, event_type, *(getattr(new, name) for name in _NEW_CLAIM_NAMES)
    )
    return [
        {
            "id": claim_id,
            "creditor_id": creditor_id,
            "debtor_id": debtor_id,
            "invoice_no": invoice_no,
            "amount_minor": amount_minor,
            "fees_minor": fees_minor,
            "currency": currency,
            "issue_date": issue_date,
            "due_date": due_date,
            "final_due_date": final_due_date,
            "reference": reference,
            "description": description,
            "department": department,
            "created_at": now,
            "payment": payment,
            "changed_at": changed_at,
            **_NEW_CLAIM_DEFAULTS,
        }
        for (
            claim_id,
            debtor_id,
            invoice_no,
            amount_minor,
            fees_minor,
            currency,
            issue_date,
            due_date,
            final_due_date,
            reference,
            description,
            department,
            payment,
        ) in zip(
            new.id,
            new.debtor_id,
            new.invoice_no,
            new.amount_minor,
            new.fees_minor,
            new.currency,
            new.issue_date,
            new.due_date,
            new.final_due_date,
            new.reference,
            new.description,
            new.department,
            payments,
            strict=True,
        )
    ]


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


async def lock_creditor(conn: asyncpg.Connection, creditor_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM creditors WHERE id = $1 FOR UPDATE", creditor_id)


async def set_creditor_sender(conn: asyncpg.Connection, creditor_id: UUID, values: dict[str, str]) -> None:
    """Change the creditor's sender fields (`values`' keys are columns from domain.SENDER_FIELDS)."""
    assigned = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))
    await conn.execute(f"UPDATE creditors SET {assigned} WHERE id = $1", creditor_id, *values.values())


async def add_creditor_change(
    conn: asyncpg.Connection, creditor_id: UUID, at: datetime, actor: str, event_id: UUID, changes: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO creditor_changes (creditor_id, at, actor, event_id, changes) VALUES ($1, $2, $3, $4, $5)",
        creditor_id,
        at,
        actor,
        event_id,
        changes,
    )


async def creditor_changes(conn: asyncpg.Connection, creditor_id: UUID, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, actor, changes FROM creditor_changes WHERE creditor_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            creditor_id,
            limit,
        )
    )


async def find_api_key(conn: asyncpg.Connection, prefix: str) -> asyncpg.Record | None:
    # With the creditor's sandbox link and clock: a sandbox key's requests run on the sandbox's now.
    return await conn.fetchrow(
        "SELECT k.id, k.creditor_id, k.secret_hash, k.scopes, c.sandbox_of, coalesce(s.offset_s, 0) AS offset_s"
        " FROM api_keys k JOIN creditors c ON c.id = k.creditor_id"
        " LEFT JOIN sandbox_clocks s ON s.creditor_id = k.creditor_id"
        " WHERE k.prefix = $1 AND k.revoked_at IS NULL",
        prefix,
    )


async def sandbox_state(conn: asyncpg.Connection, creditor_id: UUID) -> asyncpg.Record | None:
    """The creditor's sandbox link and clock offset (seconds); None for no such creditor."""
    return await conn.fetchrow(
        "SELECT c.sandbox_of, coalesce(s.offset_s, 0) AS offset_s FROM creditors c"
        " LEFT JOIN sandbox_clocks s ON s.creditor_id = c.id WHERE c.id = $1",
        creditor_id,
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


async def insert_creditor(conn: asyncpg.Connection, creditor_id: UUID, **values: Any) -> None:
    """A new creditor; `values` are its columns (name, country, currency, … bank_claims)."""
    columns = ", ".join(values)
    params = ", ".join(f"${n}" for n in range(2, len(values) + 2))
    await conn.execute(f"INSERT INTO creditors (id, {columns}) VALUES ($1, {params})", creditor_id, *values.values())


async def insert_api_key(
    conn: asyncpg.Connection, creditor_id: UUID, prefix: str, secret_hash: bytes, scopes: list[str]
) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, creditor_id, prefix, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5)",
        uuid.uuid4(),
        creditor_id,
        prefix,
        secret_hash,
        scopes,
    )


async def claim_idempotency_key(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    key: str,
    digest: str,
    *,
    ttl: timedelta,
    lock_timeout_ms: int,
) -> bool:
    """Insert the key (or take over one older than `ttl` on the database's clock) in the open
    transaction; False when a live row holds it. Waits at most `lock_timeout_ms` on a concurrent
    request's uncommitted row (asyncpg.LockNotAvailableError after that)."""
    await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (creditor_id, key, request_hash, created_at) VALUES ($1, $2, $3, now())"
        " ON CONFLICT (creditor_id, key) DO UPDATE SET request_hash = excluded.request_hash,"
        " status_code = NULL, response_body = NULL, created_at = excluded.created_at"
        " WHERE idempotency_keys.created_at < now() - $4::interval"
        " RETURNING true",
        creditor_id,
        key,
        digest,
        ttl,
    )
    await conn.execute("SET LOCAL lock_timeout = DEFAULT")
    return bool(claimed)


async def idempotency_key(conn: asyncpg.Connection, creditor_id: UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE creditor_id = $1 AND key = $2",
        creditor_id,
        key,
    )


async def store_idempotent_response(
    conn: asyncpg.Connection, creditor_id: UUID, key: str, status_code: int, body: Any, *, encoded: bool = False
) -> None:
    """The response to replay for the key; `encoded`: `body` is JSON text already (PostgreSQL
    parses it, nothing is encoded twice)."""
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = $3, response_body = "
        + ("$4::text::jsonb" if encoded else "$4")
        + " WHERE creditor_id = $1 AND key = $2",
        creditor_id,
        key,
        status_code,
        body,
    )


async def mark_overdue(conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID) -> None:
    await conn.execute("UPDATE claims SET overdue = true WHERE id = $1 AND creditor_id = $2", claim_id, creditor_id)


async def fee_in_history(conn: asyncpg.Connection, claim_id: UUID, fee_id: UUID) -> bool:
    """Whether the claim's history already names the fee (a waiver or its charge)."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM claim_history WHERE claim_id = $1 AND details->>'fee_id' = $2", claim_id, str(fee_id)
        )
    )


async def set_stage(conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID, stage: str) -> None:
    await conn.execute(
        "UPDATE claims SET stage = $3, updated_at = now() WHERE id = $1 AND creditor_id = $2",
        claim_id,
        creditor_id,
        stage,
    )


async def owned_claims(conn: asyncpg.Connection, creditor_id: UUID, claim_ids: list[UUID]) -> list[asyncpg.Record]:
    """Those of the claims that belong to the creditor (id, invoice_no)."""
    return list(
        await conn.fetch(
            "SELECT id, invoice_no FROM claims WHERE id = ANY($1::uuid[]) AND creditor_id = $2", claim_ids, creditor_id
        )
    )


# -- the claim's state, as the lifecycle use cases change it (krafa_claims_api.lifecycle) ----------


async def lock_claim(conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID) -> asyncpg.Record | None:
    """The claim, locked for this transaction; None for another creditor's claim."""
    return await conn.fetchrow(
        "SELECT * FROM claims WHERE id = $1 AND creditor_id = $2 FOR UPDATE", claim_id, creditor_id
    )


async def set_amended(
    conn: asyncpg.Connection, claim_id: UUID, amount_minor: int, due_date: date, final_due_date: date, now: datetime
) -> None:
    # A due date moved past today makes the claim current again.
    await conn.execute(
        "UPDATE claims SET amount_minor = $2, due_date = $3, final_due_date = $4,"
        " overdue = overdue AND $3 <= $5::date, updated_at = $6 WHERE id = $1",
        claim_id,
        amount_minor,
        due_date,
        final_due_date,
        now.date(),
        now,
    )


async def set_cancelled(conn: asyncpg.Connection, claim_id: UUID, reason: str | None, now: datetime) -> None:
    await conn.execute(
        "UPDATE claims SET status = 'cancelled', cancelled_at = $2, cancel_reason = $3, updated_at = $2 WHERE id = $1",
        claim_id,
        now,
        reason,
    )


async def add_settlement_entry(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    claim_id: UUID,
    kind: str,
    amount_minor: int,
    currency: str,
    now: datetime,
    department: str | None,
    source_id: str = "",
) -> None:
    """One entry of the creditor's settlement per claim, kind and source (a replay adds nothing)."""
    await conn.execute(
        "INSERT INTO settlement_entries (creditor_id, claim_id, kind, amount_minor, currency, created_at,"
        " department, source_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (claim_id, kind, source_id) DO NOTHING",
        creditor_id,
        claim_id,
        kind,
        amount_minor,
        currency,
        now,
        department,
        source_id,
    )


async def settlement_total(conn: asyncpg.Connection, claim_id: UUID, kind: str) -> int:
    """The sum of a claim's settlement entries of one kind."""
    total = await conn.fetchval(
        "SELECT coalesce(sum(amount_minor), 0) FROM settlement_entries WHERE claim_id = $1 AND kind = $2",
        claim_id,
        kind,
    )
    return int(total)


async def set_watch(
    conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID, started_at: datetime, creditor_share_pct: int
) -> None:
    """The claim is in claim watch from `started_at` with the creditor's share of recoveries; a
    replay (or a later round) keeps the first start and its share."""
    await conn.execute(
        "UPDATE claims SET stage = 'watch', watch_started_at = coalesce(watch_started_at, $3),"
        " watch_creditor_share_pct = coalesce(watch_creditor_share_pct, $4), updated_at = now()"
        " WHERE id = $1 AND creditor_id = $2",
        claim_id,
        creditor_id,
        started_at,
        creditor_share_pct,
    )


async def set_disputed(conn: asyncpg.Connection, claim_id: UUID, reason: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE claims SET status = 'disputed', dispute_reason = $2, held_until = NULL, updated_at = $3 WHERE id = $1",
        claim_id,
        reason,
        now,
    )


async def set_open(conn: asyncpg.Connection, claim_id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE claims SET status = 'open', updated_at = $2 WHERE id = $1", claim_id, now)


async def set_deferred(
    conn: asyncpg.Connection, claim_id: UUID, due_date: date, final_due_date: date, now: datetime
) -> None:
    await conn.execute(
        "UPDATE claims SET due_date = $2, final_due_date = $3, overdue = false, updated_at = $4 WHERE id = $1",
        claim_id,
        due_date,
        final_due_date,
        now,
    )


async def replace_instalments(
    conn: asyncpg.Connection, claim_id: UUID, instalments: list[tuple[date, int]], now: datetime
) -> None:
    """The claim's plan, numbered from 1, in place of any earlier one."""
    await conn.execute("DELETE FROM claim_instalments WHERE claim_id = $1", claim_id)
    await conn.executemany(
        "INSERT INTO claim_instalments (claim_id, no, due_date, amount_minor) VALUES ($1, $2, $3, $4)",
        [(claim_id, no, d, a) for no, (d, a) in enumerate(instalments, start=1)],
    )
    await conn.execute("UPDATE claims SET updated_at = $2 WHERE id = $1", claim_id, now)


# What the hold expiry listens for (Runtime.wake_on_due): a hold with an end placed.
HOLDS = "holds"


async def set_held(conn: asyncpg.Connection, claim_id: UUID, until: datetime | None, now: datetime) -> None:
    """Hold the claim; a hold that ends wakes the hold expiry at commit, which then sleeps until the
    earliest end."""
    await conn.execute(
        "WITH held AS (UPDATE claims SET status = 'held', held_until = $2, updated_at = $3 WHERE id = $1"
        f" RETURNING held_until) SELECT {notify_due(HOLDS)} FROM held WHERE held_until IS NOT NULL",
        claim_id,
        until,
        now,
    )


async def set_released(conn: asyncpg.Connection, claim_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE claims SET status = 'open', held_until = NULL, updated_at = $2 WHERE id = $1", claim_id, now
    )


async def lock_expired_holds(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` held claims whose hold has ended, locked (replicas skip each other's)."""
    return list(
        await conn.fetch(
            "SELECT * FROM claims WHERE status = 'held' AND held_until <= $1"
            " ORDER BY held_until LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
    )


async def next_hold_expiry(conn: asyncpg.Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT min(held_until) FROM claims WHERE status = 'held'")
    return value


async def set_written_off(conn: asyncpg.Connection, claim_id: UUID, amount_minor: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE claims SET status = 'written_off', written_off_minor = written_off_minor + $2, updated_at = $3"
        " WHERE id = $1",
        claim_id,
        amount_minor,
        now,
    )


async def reduce_charges(conn: asyncpg.Connection, claim_id: UUID, fees_minor: int, interest_minor: int) -> None:
    await conn.execute(
        "UPDATE claims SET fees_minor = fees_minor - $2, interest_minor = interest_minor - $3 WHERE id = $1",
        claim_id,
        fees_minor,
        interest_minor,
    )


async def add_charge(
    conn: asyncpg.Connection, claim_id: UUID, amount_minor: int, charged_at: datetime, *, interest: bool
) -> None:
    """A fee, or with `interest` late interest, added to the claim's totals."""
    await conn.execute(
        "UPDATE claims SET interest_minor = interest_minor + $2, updated_at = $3 WHERE id = $1"
        if interest
        else "UPDATE claims SET fees_minor = fees_minor + $2, updated_at = $3 WHERE id = $1",
        claim_id,
        amount_minor,
        charged_at,
    )


async def set_paid(conn: asyncpg.Connection, claim_id: UUID, paid_minor: int, *, settles: bool, now: datetime) -> None:
    """What has been paid; `settles`: the claim is paid now."""
    await conn.execute(
        "UPDATE claims SET paid_minor = $2,"
        " status = CASE WHEN $3 THEN 'paid' ELSE status END,"
        " paid_at = CASE WHEN $3 THEN $4 ELSE paid_at END WHERE id = $1",
        claim_id,
        paid_minor,
        settles,
        now,
    )


# -- payment slips for declined card instalments (krafa_claims_api.cards) --------------------------


async def card_failure_seen(conn: asyncpg.Connection, failure_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM card_instalment_failures WHERE failure_id = $1", failure_id))


async def insert_slip(
    conn: asyncpg.Connection,
    claim_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    *,
    invoice_no: str,
    amount_minor: int,
    fees_minor: int,
    currency: str,
    due: date,
    reference: str,
    description: str,
    now: datetime,
    payment: dict[str, Any],
) -> bool:
    """A slip claim issued, due and finally due on `due`; False when the invoice number exists."""
    inserted = await conn.fetchval(
        "INSERT INTO claims (id, creditor_id, debtor_id, invoice_no, amount_minor, fees_minor, currency,"
        " issue_date, due_date, final_due_date, reference, description, created_at, payment)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10, $11, $12)"
        " ON CONFLICT (creditor_id, invoice_no) DO NOTHING RETURNING true",
        claim_id,
        creditor_id,
        debtor_id,
        invoice_no,
        amount_minor,
        fees_minor,
        currency,
        due,
        reference,
        description,
        now,
        payment,
    )
    return bool(inserted)


async def add_card_failure(conn: asyncpg.Connection, failure_id: UUID, creditor_id: UUID, claim_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO card_instalment_failures (failure_id, creditor_id, claim_id) VALUES ($1, $2, $3)",
        failure_id,
        creditor_id,
        claim_id,
    )
