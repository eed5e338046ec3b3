"""SQL of payments-ingest: the open-claim reference index, imports and payments."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from krafa_kit.db import Connection

from krafa_payments_ingest import domain

Row = Mapping[str, Any]


async def index_claim(
    conn: Connection,
    *,
    claim_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    reference: str,
    invoice_no: str,
    currency: str,
    amount_owed_minor: int,
    created_at: datetime,
    indexed_at: datetime,
    customer_no: str | None = None,
    account: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO claim_index (claim_id, creditor_id, debtor_id, reference, invoice_no, currency,"
        " amount_owed_minor, created_at, indexed_at, customer_no, account)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (claim_id) DO NOTHING",
        claim_id,
        creditor_id,
        debtor_id,
        reference,
        invoice_no,
        currency,
        amount_owed_minor,
        created_at,
        indexed_at,
        customer_no,
        account,
    )


async def debtor_of_customer(conn: Connection, creditor_id: UUID, customer_no: str) -> UUID | None:
    """The debtor id claims-api gave this creditor's customer, as its latest indexed claim says;
    None when no claim of the customer was indexed. Never another creditor's debtor."""
    found: UUID | None = await conn.fetchval(
        "SELECT debtor_id FROM claim_index WHERE creditor_id = $1 AND customer_no = $2"
        " ORDER BY indexed_at DESC, claim_id LIMIT 1",
        creditor_id,
        customer_no,
    )
    return found


CARD_FAILURE_COLUMNS = (
    "id, source_id, creditor_id, debtor_id, customer_no, agreement_ref, instalment_no, instalment_count,"
    " amount_minor, currency, reason, next_attempt_date, failed_at, received_at"
)


async def insert_card_failure(
    conn: Connection,
    *,
    failure_id: UUID,
    source_id: str,
    creditor_id: UUID,
    debtor_id: UUID | None,
    customer_no: str,
    agreement_ref: str,
    instalment_no: int,
    instalment_count: int | None,
    amount_minor: int,
    currency: str,
    reason: str,
    next_attempt_date: date | None,
    failed_at: datetime,
    received_at: datetime,
) -> Row | None:
    """Record a failure; None when the processor's id was recorded before (a concurrent report
    of the same id waits for the first transaction on the unique index, then conflicts)."""
    row: Row | None = await conn.fetchrow(
        f"INSERT INTO card_instalment_failures ({CARD_FAILURE_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        f" ON CONFLICT (source_id) DO NOTHING RETURNING {CARD_FAILURE_COLUMNS}",
        failure_id,
        source_id,
        creditor_id,
        debtor_id,
        customer_no,
        agreement_ref,
        instalment_no,
        instalment_count,
        amount_minor,
        currency,
        reason,
        next_attempt_date,
        failed_at,
        received_at,
    )
    return row


async def card_failure(conn: Connection, *, failure_id: UUID | None = None, source_id: str | None = None) -> Row | None:
    row: Row | None = await conn.fetchrow(
        f"SELECT {CARD_FAILURE_COLUMNS} FROM card_instalment_failures WHERE id = $1 OR source_id = $2",
        failure_id,
        source_id,
    )
    return row


async def close_claim(conn: Connection, *, claim_id: UUID, creditor_id: UUID, status: str, closed_at: datetime) -> bool:
    """Mark an indexed claim closed; False when the index does not hold it."""
    result: str = await conn.execute(
        "UPDATE claim_index SET status = $3, closed_at = coalesce(closed_at, $4)"
        " WHERE claim_id = $1 AND creditor_id = $2",
        claim_id,
        creditor_id,
        status,
        closed_at,
    )
    return result != "UPDATE 0"


async def claims_by_reference(conn: Connection, references: list[str]) -> dict[str, list[domain.IndexedClaim]]:
    rows = await conn.fetch(
        "SELECT claim_id, creditor_id, debtor_id, reference, currency, status, account FROM claim_index"
        " WHERE reference = ANY($1::text[]) ORDER BY claim_id",
        references,
    )
    found: dict[str, list[domain.IndexedClaim]] = defaultdict(list)
    for row in rows:
        found[row["reference"]].append(indexed(row))
    return found


async def claims_by_text_key(conn: Connection, keys: list[str]) -> dict[str, list[domain.TextKeyed]]:
    """The claims whose compact reference or invoice number is one of the keys, by each key."""
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT claim_id, creditor_id, debtor_id, reference, invoice_no, currency, status, account FROM claim_index"
        " WHERE reference = ANY($1::text[])"
        " OR upper(regexp_replace(invoice_no, '\\s', '', 'g')) = ANY($1::text[]) ORDER BY claim_id",
        keys,
    )
    wanted = set(keys)
    found: dict[str, list[domain.TextKeyed]] = defaultdict(list)
    for row in rows:
        claim = indexed(row)
        claim_keys = tuple(k for k in (domain.text_key(row["reference"]), domain.text_key(row["invoice_no"])) if k)
        keyed = domain.TextKeyed(claim, claim_keys)
        for key in set(claim_keys) & wanted:
            found[key].append(keyed)
    return found


async def first_import_of(conn: Connection, sha256: str) -> UUID | None:
    first: UUID | None = await conn.fetchval(
        "SELECT id FROM imports WHERE sha256 = $1 ORDER BY imported_at, id LIMIT 1", sha256
    )
    return first


async def insert_import(
    conn: Connection,
    *,
    import_id: UUID,
    sha256: str,
    filename: str | None,
    format_: str,
    size_bytes: int,
    repeat_of: UUID | None,
    imported_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO imports (id, sha256, filename, format, size_bytes, repeat_of, imported_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        import_id,
        sha256,
        filename,
        format_,
        size_bytes,
        repeat_of,
        imported_at,
    )


async def set_import_counts(
    conn: Connection, import_id: UUID, *, entries: int, new: int, matched: int, unmatched: int, reversals: int = 0
) -> None:
    await conn.execute(
        "UPDATE imports SET entries = $2, new_entries = $3, duplicates = $2::int - $3::int,"
        " matched = $4, unmatched = $5, reversals = $6 WHERE id = $1",
        import_id,
        entries,
        new,
        matched,
        unmatched,
        reversals,
    )


@dataclass(frozen=True, slots=True)
class PaymentRow:
    id: UUID
    identity: domain.EntryIdentity
    entry_index: int
    detail_index: int
    amount_minor: int
    currency: str
    booking_date: date | None
    value_date: date | None
    reference: str | None
    remittance_text: str | None
    bank_ref: str | None
    end_to_end_id: str | None
    debtor_name: str | None
    debtor_account: str | None
    match: domain.Match
    reversal_of: UUID | None = None  # the earlier payment this one reverses
    account: str | None = None  # account_key of the account paid into, when known
    stated_entries: int | None = None  # BankEntry.stated_entries


async def insert_payments(
    conn: Connection, import_id: UUID, received_at: datetime, rows: list[PaymentRow]
) -> set[UUID]:
    """Insert the payments not seen before; returns the ids of those inserted.

    The unique identity is what makes a re-imported or overlapping file harmless: a known entry
    conflicts and is skipped, and a concurrent import of the same entry waits for the first
    transaction and then conflicts too.
    """
    if not rows:
        return set()
    inserted = await conn.fetch(
        """
        INSERT INTO payments (id, identity, identity_basis, import_id, entry_index, detail_index,
                              amount_minor, currency, booking_date, value_date, reference,
                              remittance_text, bank_ref, end_to_end_id, debtor_name, debtor_account,
                              state, claim_id, creditor_id, debtor_id, unmatched_reason, received_at,
                              reversal_of, account, unmatched_detail, candidates)
        SELECT u.id, u.identity, u.basis, $20, u.entry_index, u.detail_index, u.amount_minor,
               u.currency, u.booking_date, u.value_date, u.reference, u.remittance_text, u.bank_ref,
               u.end_to_end_id, u.debtor_name, u.debtor_account,
               CASE WHEN u.claim_id IS NULL THEN 'unmatched' ELSE 'matched' END,
               u.claim_id, u.creditor_id, u.debtor_id, u.reason, $21, u.reversal_of, u.account, u.detail,
               u.candidates::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::text[],
                    $8::date[], $9::date[], $10::text[], $11::text[], $12::text[], $13::text[],
                    $14::text[], $15::text[], $16::uuid[], $17::uuid[], $18::uuid[], $19::text[],
                    $22::uuid[], $23::text[], $24::text[], $25::text[])
             AS u(id, identity, basis, entry_index, detail_index, amount_minor, currency, booking_date,
                  value_date, reference, remittance_text, bank_ref, end_to_end_id, debtor_name,
                  debtor_account, claim_id, creditor_id, debtor_id, reason, reversal_of, account, detail,
                  candidates)
        ON CONFLICT (identity) DO NOTHING
        RETURNING id
        """,
        [r.id for r in rows],
        [r.identity.value for r in rows],
        [r.identity.basis for r in rows],
        [r.entry_index for r in rows],
        [r.detail_index for r in rows],
        [r.amount_minor for r in rows],
        [r.currency for r in rows],
        [r.booking_date for r in rows],
        [r.value_date for r in rows],
        [r.reference for r in rows],
        [r.remittance_text for r in rows],
        [r.bank_ref for r in rows],
        [r.end_to_end_id for r in rows],
        [r.debtor_name for r in rows],
        [r.debtor_account for r in rows],
        [r.match.claim.claim_id if r.match.claim else None for r in rows],
        [r.match.claim.creditor_id if r.match.claim else None for r in rows],
        [r.match.claim.debtor_id if r.match.claim else None for r in rows],
        [r.match.reason.value if r.match.reason else None for r in rows],
        import_id,
        received_at,
        [r.reversal_of for r in rows],
        [r.account for r in rows],
        [r.match.explanation if r.match.claim is None else None for r in rows],
        [json.dumps(candidates_json(r.match)) if r.match.claim is None else "[]" for r in rows],
    )
    return {row["id"] for row in inserted}


async def reversible_payment(
    conn: Connection,
    *,
    amount_minor: int,
    currency: str,
    bank_ref: str | None,
    end_to_end_id: str | None,
    reference: str | None,
    identity: str,
    exclude: list[UUID],
) -> tuple[UUID, domain.Match] | None:
    """The earliest credit of ``amount_minor`` that a charge-back with these bank references
    reverses, and its match; None when there is none, or it was reversed already (by a payment
    of another identity: the same reversal imported again is a duplicate, not a second one)."""
    if not bank_ref and not end_to_end_id:
        return None
    row = await conn.fetchrow(
        "SELECT p.id, p.claim_id, p.creditor_id, p.debtor_id, p.unmatched_reason, c.currency, c.status"
        " FROM payments p LEFT JOIN claim_index c ON c.claim_id = p.claim_id"
        " WHERE p.amount_minor = $1 AND p.currency = $2 AND p.reversal_of IS NULL"
        " AND (p.bank_ref = $3 OR p.end_to_end_id = $4)"
        " AND ($5::text IS NULL OR p.reference IS NULL OR p.reference = $5)"
        " AND p.id <> ALL($7::uuid[])"
        " AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.reversal_of = p.id AND r.identity <> $6)"
        " ORDER BY p.seq LIMIT 1",
        amount_minor,
        currency,
        bank_ref,
        end_to_end_id,
        reference,
        identity,
        exclude,
    )
    if row is None:
        return None
    if row["claim_id"] is None:
        return row["id"], domain.Match(None, domain.UnmatchedReason(row["unmatched_reason"]))
    claim = domain.IndexedClaim(
        claim_id=row["claim_id"],
        creditor_id=row["creditor_id"],
        debtor_id=row["debtor_id"],
        currency=row["currency"] or currency,
        status=row["status"] or "open",
    )
    return row["id"], domain.Match(claim, None)


async def get_import(conn: Connection, import_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT id, sha256, filename, format, size_bytes, repeat_of, entries, new_entries, duplicates,"
        " matched, unmatched, reversals, imported_at FROM imports WHERE id = $1",
        import_id,
    )
    return row


async def unmatched_payments(conn: Connection, *, limit: int, before: int | None) -> list[Row]:
    """The operator queue, newest first; `before` is the `seq` of the last row of the previous page."""
    return list(
        await conn.fetch(
            "SELECT id, seq, import_id, amount_minor, currency, booking_date, value_date, reference,"
            " remittance_text, bank_ref, end_to_end_id, debtor_name, debtor_account, unmatched_reason,"
            " unmatched_detail, candidates, account, received_at FROM payments"
            " WHERE state = 'unmatched' AND ($1::bigint IS NULL OR seq < $1)"
            " ORDER BY seq DESC LIMIT $2",
            before,
            limit,
        )
    )


async def save_csv_mapping(conn: Connection, name: str, mapping: dict[str, Any], now: datetime) -> bool:
    """Create or replace a CSV mapping; True when it was created."""
    created: bool = await conn.fetchval(
        "INSERT INTO csv_mappings (name, mapping, created_at, updated_at) VALUES ($1, $2::jsonb, $3, $3)"
        " ON CONFLICT (name) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at"
        " RETURNING (xmax = 0)",
        name,
        mapping,  # the pool's jsonb codec encodes it
        now,
    )
    return created


async def get_csv_mapping(conn: Connection, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await conn.fetchval("SELECT mapping FROM csv_mappings WHERE name = $1", name)
    return found


async def indexed_claim(conn: Connection, claim_id: UUID) -> domain.IndexedClaim | None:
    row = await conn.fetchrow(
        "SELECT claim_id, creditor_id, debtor_id, currency, status, account FROM claim_index WHERE claim_id = $1",
        claim_id,
    )
    return None if row is None else indexed(row)


def indexed(row: Row) -> domain.IndexedClaim:
    return domain.IndexedClaim(
        claim_id=row["claim_id"],
        creditor_id=row["creditor_id"],
        debtor_id=row["debtor_id"],
        currency=row["currency"],
        status=row["status"],
        account=row["account"],
    )


def candidates_json(match: domain.Match) -> list[dict[str, Any]]:
    """The claims an unmatched payment was weighed against, for the operator queue."""
    return [
        {
            "claim_id": str(c.claim_id),
            "creditor_id": str(c.creditor_id),
            "currency": c.currency,
            "status": c.status,
            "account": c.account,
        }
        for c in match.candidates
    ]


async def payment_for_operator(conn: Connection, payment_id: UUID) -> Row | None:
    """A payment with what an operator action needs, locked against a concurrent action."""
    row: Row | None = await conn.fetchrow(
        "SELECT p.id, p.state, p.operator_action, p.amount_minor, p.currency, p.reference, p.booking_date,"
        " p.value_date, p.bank_ref, p.import_id, i.format FROM payments p JOIN imports i ON i.id = p.import_id"
        " WHERE p.id = $1 FOR UPDATE OF p",
        payment_id,
    )
    return row


async def operator_match(conn: Connection, payment_id: UUID, claim: domain.IndexedClaim, at: datetime) -> None:
    await conn.execute(
        "UPDATE payments SET state = 'matched', claim_id = $2, creditor_id = $3, debtor_id = $4,"
        " operator_action = 'matched', handled_at = $5 WHERE id = $1 AND state = 'unmatched'",
        payment_id,
        claim.claim_id,
        claim.creditor_id,
        claim.debtor_id,
        at,
    )


async def operator_refund(conn: Connection, payment_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE payments SET state = 'refund_requested', operator_action = 'refund_requested', handled_at = $2"
        " WHERE id = $1 AND state = 'unmatched'",
        payment_id,
        at,
    )


# -- card checkouts (krafa_payments_ingest.checkouts) ----------------------------------------------


async def checkout_claim(conn: Connection, claim_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT claim_id, creditor_id, debtor_id, reference, currency, status FROM claim_index WHERE claim_id = $1",
        claim_id,
    )
    return row


async def add_checkout(
    conn: Connection,
    checkout_id: str,
    claim_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    reference: str,
    amount_minor: int,
    currency: str,
    now: datetime,
    *,
    stated_entries: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO card_checkouts (id, claim_id, creditor_id, debtor_id, reference, amount_minor, currency,"
        " created_at, stated_entries) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        checkout_id,
        claim_id,
        creditor_id,
        debtor_id,
        reference,
        amount_minor,
        currency,
        now,
        stated_entries,
    )


async def checkout(conn: Connection, checkout_id: str) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT id, claim_id, amount_minor, currency, status, created_at, completed_at FROM card_checkouts"
        " WHERE id = $1",
        checkout_id,
    )
    return row


async def lock_checkout(conn: Connection, checkout_id: str) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM card_checkouts WHERE id = $1 FOR UPDATE", checkout_id)
    return row


async def set_checkout_paid(conn: Connection, checkout_id: str, now: datetime, provider_event: Any) -> None:
    await conn.execute(
        "UPDATE card_checkouts SET status = 'paid', completed_at = $2, provider_event = $3 WHERE id = $1",
        checkout_id,
        now,
        provider_event,
    )
