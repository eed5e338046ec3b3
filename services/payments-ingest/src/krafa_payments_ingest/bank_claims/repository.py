"""SQL of the bank claims: the claims kept in step with the bank, and the payments it reported."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from krafa_kit.db import Connection

from krafa_payments_ingest.bank_claims.domain import BankClaim

Row = Mapping[str, Any]

COLUMNS = (
    "claim_id, claimant_id, claim_bank, claim_number, due_date, final_due_date, payor_id, template_code,"
    " secondary_template_code, partial_payment_allowed, currency, principal_minor, fees_minor, interest_minor,"
    " bank_paid_principal_minor, bank_paid_fees_minor, bank_paid_interest_minor, wanted, collection, state, sent,"
    " ledger_entries"
)


_PREFIXED = ", ".join("b." + c.strip() for c in COLUMNS.split(","))


def bank_claim(row: Row) -> BankClaim:
    sent = row["sent"]
    return BankClaim(
        **{name: row[name] for name in COLUMNS.replace(" ", "").split(",") if name != "sent"},
        sent=json.loads(sent) if isinstance(sent, str) else sent,
    )


async def insert(
    conn: Connection,
    *,
    claim_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    claimant_id: str,
    claim_bank: str,
    claim_number: str,
    due_date: date,
    final_due_date: date,
    payor_id: str,
    template_code: str,
    secondary_template_code: str | None,
    partial_payment_allowed: bool,
    currency: str,
    principal_minor: int,
    fees_minor: int,
    created_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO bank_claims (claim_id, creditor_id, debtor_id, claimant_id, claim_bank, claim_number, due_date,"
        " final_due_date, payor_id, template_code, secondary_template_code, partial_payment_allowed, currency,"
        " principal_minor, fees_minor, interest_minor, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, $16)"
        " ON CONFLICT (claim_id) DO NOTHING",
        claim_id,
        creditor_id,
        debtor_id,
        claimant_id,
        claim_bank,
        claim_number,
        due_date,
        final_due_date,
        payor_id,
        template_code,
        secondary_template_code,
        partial_payment_allowed,
        currency,
        principal_minor,
        fees_minor,
        created_at,
    )


async def set_balance(
    conn: Connection, claim_id: UUID, *, principal: int, fees: int, interest: int, ledger_entries: int
) -> bool:
    """The ledger's outstanding components, unless a later announcement was applied already."""
    result: str = await conn.execute(
        "UPDATE bank_claims SET principal_minor = $2, fees_minor = $3, interest_minor = $4, ledger_entries = $5,"
        " version = version + 1, next_attempt_at = now() WHERE claim_id = $1 AND ledger_entries < $5",
        claim_id,
        principal,
        fees,
        interest,
        ledger_entries,
    )
    return result != "UPDATE 0"


async def want(conn: Connection, claim_id: UUID, **changes: Any) -> bool:
    """Change what Krafa wants of the claim (wanted, collection, final_due_date) and schedule a sync."""
    names = list(changes)
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    result: str = await conn.execute(
        f"UPDATE bank_claims SET {assignments}, version = version + 1, next_attempt_at = now() WHERE claim_id = $1",
        claim_id,
        *changes.values(),
    )
    return result != "UPDATE 0"


async def state_of(conn: Connection, claim_id: UUID) -> str | None:
    found: str | None = await conn.fetchval("SELECT state FROM bank_claims WHERE claim_id = $1", claim_id)
    return found


async def lease_due(conn: Connection, limit: int, lease_s: float) -> list[tuple[BankClaim, int]]:
    """Claims whose wanted state the bank does not hold yet and whose next attempt is due, leased
    for `lease_s` (another replica skips them meanwhile), with the version read."""
    rows = await conn.fetch(
        "WITH due AS (SELECT claim_id FROM bank_claims WHERE version > synced_version AND next_attempt_at <= now()"
        "  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE bank_claims b SET next_attempt_at = now() + make_interval(secs => $2)"
        f" FROM due WHERE b.claim_id = due.claim_id RETURNING b.version, {_PREFIXED}",
        limit,
        lease_s,
    )
    return [(bank_claim(row), row["version"]) for row in rows]


async def next_sync_in_s(conn: Connection) -> float | None:
    """Wall seconds until the earliest claim the bank lacks may be synced (negative: due now; a
    lease that runs out or a retry's backoff included); None when the bank holds every claim's
    wanted state."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM bank_claims WHERE version > synced_version"
    )
    return None if value is None else float(value)


async def synced(
    conn: Connection,
    claim_id: UUID,
    *,
    version: int,
    state: str,
    sent: dict[str, Any] | None,
    held_entries: int | None = None,
) -> None:
    """The sync's outcome; `held_entries`: the ledger's length behind the amounts the bank holds
    now, when this sync left them as wanted (None: what it held before stands)."""
    await conn.execute(
        "UPDATE bank_claims SET synced_version = greatest(synced_version, $2), state = $3, sent = $4::jsonb,"
        " attempts = 0, last_error = NULL, synced_at = now(),"
        " sent_ledger_entries = coalesce($5, sent_ledger_entries),"
        " next_attempt_at = CASE WHEN version > $2 THEN now() ELSE next_attempt_at END WHERE claim_id = $1",
        claim_id,
        version,
        state,
        json.dumps(sent) if sent is not None else None,
        held_entries,
    )


async def failed(
    conn: Connection, claim_id: UUID, *, error: str, retry_in_s: float | None, version: int, state: str | None = None
) -> None:
    """A sync that did not work: try again in `retry_in_s`, or never (None) until Krafa wants something new."""
    if retry_in_s is None:
        await conn.execute(
            "UPDATE bank_claims SET synced_version = greatest(synced_version, $2), last_error = $3,"
            " state = coalesce($4, state), attempts = attempts + 1 WHERE claim_id = $1",
            claim_id,
            version,
            error[:500],
            state,
        )
        return
    await conn.execute(
        "UPDATE bank_claims SET attempts = attempts + 1, last_error = $2,"
        " next_attempt_at = now() + make_interval(secs => $3) WHERE claim_id = $1",
        claim_id,
        error[:500],
        retry_in_s,
    )


async def attempts(conn: Connection, claim_id: UUID) -> int:
    found: int = await conn.fetchval("SELECT attempts FROM bank_claims WHERE claim_id = $1", claim_id)
    return found


async def claimants_to_poll(conn: Connection) -> list[str]:
    """Claimants with a claim at the bank that may still be paid (or was paid lately)."""
    rows = await conn.fetch(
        "SELECT DISTINCT claimant_id FROM bank_claims WHERE state IN ('open', 'new')"
        " OR (state = 'paid' AND synced_at > now() - interval '2 days') ORDER BY claimant_id"
    )
    return [row["claimant_id"] for row in rows]


# Two-key advisory locks: the first key names what is locked, the second the claimant.
POLL_LOCK = "bank-claims-poll"


async def try_lock_poll(conn: Connection, claimant_id: str) -> bool:
    """Whether this connection now holds the claimant's poll (a session lock: another replica
    polling the same claimant holds it until its poll ends)."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))", POLL_LOCK, claimant_id)
    return taken


async def unlock_poll(conn: Connection, claimant_id: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", POLL_LOCK, claimant_id)


async def by_bank_id(conn: Connection, claimant_id: str, account: str, due: date) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT claim_id, creditor_id, debtor_id, currency, sent_ledger_entries FROM bank_claims"
        " WHERE claimant_id = $1 AND claim_bank || '66' || claim_number = $2 AND due_date = $3",
        claimant_id,
        account,
        due,
    )
    return row


async def record_payment(
    conn: Connection, *, identity: str, claim_id: UUID, transaction: dict[str, Any], at: datetime
) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO bank_claim_payments (identity, claim_id, transaction, recorded_at) VALUES ($1, $2, $3::jsonb, $4)"
        " ON CONFLICT (identity) DO NOTHING RETURNING true",
        identity,
        claim_id,
        json.dumps(transaction, default=_exact),
        at,
    )
    return bool(inserted)


async def recorded(conn: Connection, identities: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT identity FROM bank_claim_payments WHERE identity = ANY($1::text[])", identities)
    return {row["identity"] for row in rows}


async def paid_at_bank(
    conn: Connection,
    claim_id: UUID,
    *,
    principal: int,
    fees: int,
    interest: int,
    complete: bool,
    booked_by_ledger: bool,
) -> None:
    """A payment at the bank joins what the bank subtracts itself. Unless the ledger may have
    booked it already (a bank file reported it first), it also leaves the outstanding components
    now, as the ledger will book it: so the amounts wanted of the claim stay put meanwhile."""
    keep = 0 if booked_by_ledger else 1
    await conn.execute(
        "UPDATE bank_claims SET principal_minor = principal_minor - $2::bigint * $6::int,"
        " fees_minor = fees_minor - $3::bigint * $6::int, interest_minor = interest_minor - $4::bigint * $6::int,"
        " bank_paid_principal_minor = bank_paid_principal_minor + $2::bigint,"
        " bank_paid_fees_minor = bank_paid_fees_minor + $3::bigint,"
        " bank_paid_interest_minor = bank_paid_interest_minor + $4::bigint,"
        " state = CASE WHEN $5::boolean AND state IN ('open', 'new') THEN 'paid' ELSE state END WHERE claim_id = $1",
        claim_id,
        principal,
        fees,
        interest,
        complete,
        keep,
    )


async def counts(conn: Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM bank_claims GROUP BY state")
    return {row["state"]: int(row["n"]) for row in rows}


def _exact(value: object) -> int | str:
    """A Decimal amount of the bank's (the client reads fractions so) as JSON: a whole one as a
    number, a fractional one as its exact decimal string, never through a float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
