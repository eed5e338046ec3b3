"""The per-claim ledger: every movement of principal, fees, interest, payments and write-offs.

Each entry holds signed deltas of what is outstanding per component; the balance is their sum.
The totals on the claims row (amount, fees, interest, paid, written off) are kept in step in the
same transaction, so listing claims never has to sum the ledger. The entries' SQL is in
krafa_claims_api.ledger_repository; here are the rules that read them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg
from krafa_events.catalog import ClaimBalanceChanged, LedgerLine

from krafa_claims_api import domain, ledger_repository

BalanceCause = Literal["fee", "interest", "payment", "reversal", "amendment", "write_off"]


def payment_allocation(
    jurisdiction: str, amount_minor: int, current: dict[str, int]
) -> tuple[domain.Allocation, dict[str, int]]:
    """The allocation of a payment and the ledger deltas it produces."""
    allocation = domain.allocate_payment(
        jurisdiction,
        amount_minor,
        {"fees": current["fees"], "interest": current["interest"], "principal": current["principal"]},
        current["overpaid"],
    )
    deltas = {
        "fees_minor": -allocation.fees_minor,
        "interest_minor": -allocation.interest_minor,
        "principal_minor": -allocation.principal_minor,
        "overpaid_minor": allocation.overpaid_minor,
    }
    return allocation, deltas


async def balance_changed(
    conn: asyncpg.Connection, claim: Mapping[str, Any], cause: BalanceCause, at: datetime
) -> ClaimBalanceChanged:
    """The claim's whole ledger as booked, in booking order, and what is outstanding: the event
    every message's amounts come from. Called in the transaction that changed the ledger, after
    the change (the claim row is locked, so the version counts entries in commit order)."""
    rows = await ledger_repository.booked(conn, claim["id"])
    lines = tuple(_line(row) for row in rows)
    principal = sum(line.principal_minor for line in lines)
    fees = sum(line.fees_minor for line in lines)
    interest = sum(line.interest_minor for line in lines)
    return ClaimBalanceChanged(
        creditor_id=claim["creditor_id"],
        debtor_id=claim["debtor_id"],
        claim_id=claim["id"],
        currency=claim["currency"],
        principal_minor=principal,
        fees_minor=fees,
        interest_minor=interest,
        paid_minor=sum(line.amount_minor for line in lines if line.kind in ("payment", "reversal")),
        balance_minor=max(principal + fees + interest, 0),
        overpaid_minor=max(sum(line.overpaid_minor for line in lines), 0),
        cause=cause,
        ledger_entries=max(len(lines), 1),
        changed_at=at,
        lines=lines,
    )


def _line(row: asyncpg.Record) -> LedgerLine:
    details: dict[str, Any] = dict(row["details"] or {})
    charge = details.get("fee_id")

    def day(key: str) -> date | None:
        value = details.get(key)
        return date.fromisoformat(value) if isinstance(value, str) else None

    rate = details.get("rate_pct")
    return LedgerLine(
        kind=row["kind"],
        fee_kind=details.get("fee_kind") or details.get("fees_kind"),  # the opening charge says "fees_kind"
        step=details.get("step"),
        charge_id=UUID(charge) if isinstance(charge, str) else None,
        amount_minor=row["amount_minor"],
        principal_minor=row["principal_minor"],
        fees_minor=row["fees_minor"],
        interest_minor=row["interest_minor"],
        overpaid_minor=row["overpaid_minor"],
        occurred_at=row["occurred_at"],
        value_date=day("value_date"),
        rate_pct=Decimal(str(rate)) if rate is not None else None,
        interest_from=day("interest_from"),
        interest_to=day("interest_to"),
    )
