"""The per-claim ledger's SQL (the rules that read it are in krafa_claims_api.ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

OUTSTANDING_SQL = """
    SELECT coalesce(sum(principal_minor), 0) AS principal, coalesce(sum(fees_minor), 0) AS fees,
           coalesce(sum(interest_minor), 0) AS interest, coalesce(sum(overpaid_minor), 0) AS overpaid
    FROM ledger_entries WHERE claim_id = $1
"""


async def outstanding(conn: asyncpg.Connection, claim_id: UUID) -> dict[str, int]:
    """Outstanding principal, fees and interest, and the overpaid credit, of one claim."""
    row = await conn.fetchrow(OUTSTANDING_SQL, claim_id)
    assert row is not None
    return {key: int(row[key]) for key in ("principal", "fees", "interest", "overpaid")}


POSITION_SQL = """
    SELECT coalesce(sum(principal_minor), 0) AS principal, coalesce(sum(fees_minor), 0) AS fees,
           coalesce(sum(interest_minor), 0) AS interest,
           coalesce(sum(amount_minor) FILTER (WHERE kind IN ('payment', 'reversal')), 0) AS paid,
           count(*) AS entries
    FROM ledger_entries WHERE claim_id = $1
"""


async def position(conn: asyncpg.Connection, claim_id: UUID) -> dict[str, int]:
    """Outstanding principal, fees and interest, what was paid, and the number of entries."""
    row = await conn.fetchrow(POSITION_SQL, claim_id)
    assert row is not None
    return {key: int(row[key]) for key in ("principal", "fees", "interest", "paid", "entries")}


async def record(
    conn: asyncpg.Connection,
    claim: asyncpg.Record,
    *,
    kind: str,
    source_id: str,
    amount_minor: int,
    occurred_at: datetime,
    principal_minor: int = 0,
    fees_minor: int = 0,
    interest_minor: int = 0,
    overpaid_minor: int = 0,
    details: dict[str, Any] | None = None,
) -> bool:
    """Add one entry; False when this source was already recorded for the claim (a replay)."""
    inserted = await conn.fetchval(
        "INSERT INTO ledger_entries (claim_id, creditor_id, kind, source_id, principal_minor, fees_minor,"
        " interest_minor, overpaid_minor, amount_minor, currency, occurred_at, details)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (claim_id, source_id) DO NOTHING RETURNING true",
        claim["id"],
        claim["creditor_id"],
        kind,
        source_id,
        principal_minor,
        fees_minor,
        interest_minor,
        overpaid_minor,
        amount_minor,
        claim["currency"],
        occurred_at,
        details or {},
    )
    return bool(inserted)


# The opening charge of a new claim (principal and creation fees), selected from rows shaped like
# `claims` (id, creditor_id, amount_minor, fees_minor, currency, created_at).
OPENING_CHARGE_INSERT = (
    "INSERT INTO ledger_entries (claim_id, creditor_id, kind, source_id, principal_minor, fees_minor,"
    " amount_minor, currency, occurred_at, details)"
    " SELECT id, creditor_id, 'charge', 'created', amount_minor, fees_minor, amount_minor + fees_minor,"
    " currency, created_at, jsonb_build_object('fees_kind', CASE WHEN fees_minor > 0 THEN 'slip_fee' END)"
    " FROM {source}"
)


async def record_created(conn: asyncpg.Connection, claim_ids: list[UUID]) -> None:
    """The opening charge of claims already inserted, in one statement (a bulk of new claims gets
    it inside repository.insert_claims instead)."""
    await conn.execute(OPENING_CHARGE_INSERT.format(source="claims WHERE id = ANY($1::uuid[])"), claim_ids)


async def entries(conn: asyncpg.Connection, claim_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, kind, source_id, principal_minor, fees_minor, interest_minor, overpaid_minor,"
            " amount_minor, currency, occurred_at, details FROM ledger_entries WHERE claim_id = $1"
            " ORDER BY occurred_at, id",
            claim_id,
        )
    )


async def charges_after(conn: asyncpg.Connection, claim_id: UUID, moment: datetime) -> list[asyncpg.Record]:
    """The dunning charges (fees and late interest of reminder steps) booked for steps after
    `moment` and not waived since."""
    return list(
        await conn.fetch(
            "SELECT source_id, fees_minor, interest_minor, occurred_at, details FROM ledger_entries e"
            " WHERE claim_id = $1 AND kind IN ('fee', 'interest') AND source_id LIKE 'fee:%' AND occurred_at > $2"
            " AND NOT EXISTS (SELECT 1 FROM ledger_entries w"
            "  WHERE w.claim_id = e.claim_id AND w.source_id = 'waiver:' || e.source_id)",
            claim_id,
            moment,
        )
    )


async def charges_beyond(conn: asyncpg.Connection, claim_id: UUID, entries: int) -> list[asyncpg.Record]:
    """The dunning charges booked after the claim's first `entries` ledger entries and not waived
    since, in booking order: what a statement of the ledger at that length did not show."""
    return list(
        await conn.fetch(
            "SELECT source_id, fees_minor, interest_minor, occurred_at, details FROM ("
            "  SELECT e.*, row_number() OVER (ORDER BY id) AS n FROM ledger_entries e WHERE claim_id = $1) e"
            " WHERE n > $2 AND kind IN ('fee', 'interest') AND source_id LIKE 'fee:%'"
            " AND NOT EXISTS (SELECT 1 FROM ledger_entries w"
            "  WHERE w.claim_id = e.claim_id AND w.source_id = 'waiver:' || e.source_id) ORDER BY n",
            claim_id,
            entries,
        )
    )


async def has_entry(conn: asyncpg.Connection, claim_id: UUID, source_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM ledger_entries WHERE claim_id = $1 AND source_id = $2", claim_id, source_id
        )
    )


async def last_payment_at(conn: asyncpg.Connection, claim_id: UUID) -> datetime | None:
    """When the latest payment on the claim was received."""
    moment: datetime | None = await conn.fetchval(
        "SELECT max(occurred_at) FROM ledger_entries WHERE claim_id = $1 AND kind = 'payment'", claim_id
    )
    return moment


async def booked(conn: asyncpg.Connection, claim_id: UUID) -> list[asyncpg.Record]:
    """The claim's entries in booking order, as ClaimBalanceChanged itemises them."""
    return list(
        await conn.fetch(
            "SELECT kind, principal_minor, fees_minor, interest_minor, overpaid_minor, amount_minor, occurred_at,"
            " details FROM ledger_entries WHERE claim_id = $1 ORDER BY id",
            claim_id,
        )
    )
