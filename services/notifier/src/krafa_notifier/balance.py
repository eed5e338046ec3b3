"""The balance a message states: the claim's ledger exactly as claims-api booked it, never worked
out here. claims-api announces every change of a claim's ledger (ClaimBalanceChanged, every entry
with its allocation); until the first change the claim's ledger is its opening charge (principal
and creation fee, from ClaimCreated).

A step's fees and late interest are booked by claims-api from the scheduler's FeeCharged while the
notifier receives the step's ReminderDue on another topic; the reminder lists the charges' ids
(`fee_ids`) and is rendered only once the claim's ledger holds every one of them. So the fee a
message announces and the total it states are the ledger's, by construction. Pure functions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from krafa_events.catalog import ClaimBalanceChanged


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the statement a message shows: a charge, a fee, interest for a span of days at a
    rate, a payment. `amount_minor` is its effect on what is owed (a payment is negative)."""

    kind: str  # principal, fee, interest, payment, write_off, credit
    fee_kind: str | None
    booked_on: date
    amount_minor: int
    step: int | None = None
    rate_pct: Decimal | None = None
    interest_from: date | None = None
    interest_to: date | None = None


@dataclass(frozen=True, slots=True)
class Money:
    """One claim's statement: the totals by component (gross, as charged) and the lines."""

    principal_minor: int
    fees_minor: int
    interest_minor: int
    paid_minor: int  # what payments covered, net of reversals (an overpayment is not owed back here)
    written_off_minor: int
    entries: tuple[Entry, ...]
    ledger_entries: int  # the ledger version stated

    @property
    def total_minor(self) -> int:
        return self.principal_minor + self.fees_minor + self.interest_minor - self.paid_minor - self.written_off_minor


def ledger_of(event: ClaimBalanceChanged) -> dict[str, Any]:
    """What the notifier keeps of an announcement (JSON for claims_view.ledger)."""
    return {
        "balance_minor": event.balance_minor,
        "lines": [line.model_dump(mode="json") for line in event.lines],
    }


def booked_fee_ids(event: ClaimBalanceChanged) -> list[uuid.UUID]:
    """The charges the ledger holds (a waived one too: it is settled, and the waiver is a line)."""
    return sorted({line.charge_id for line in event.lines if line.charge_id is not None})


def ready(fee_ids: Iterable[uuid.UUID], claims: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the claims' ledgers hold every charge the step booked: only then is the balance the
    message states the one that includes them."""
    wanted = set(fee_ids)
    if not wanted:
        return True
    booked: set[uuid.UUID] = set()
    for claim in claims:
        booked.update(claim.get("booked_fee_ids") or ())
    return wanted <= booked


def money_of(claim: Mapping[str, Any]) -> Money:
    """The statement of one claim (a claims_view row)."""
    ledger = claim.get("ledger")
    if not ledger:
        # Nothing booked since creation: the opening charge is the whole ledger.
        created = claim.get("created_on") or claim["due_date"]
        entries = [Entry("principal", None, created, int(claim["amount_minor"]))]
        if claim["fees_minor"]:
            entries.append(Entry("fee", "slip_fee", created, int(claim["fees_minor"])))
        return Money(int(claim["amount_minor"]), int(claim["fees_minor"]), 0, 0, 0, tuple(entries), 1)
    lines = list(ledger["lines"])
    waived = {line.get("charge_id") for line in lines if line["kind"] == "waiver" and line.get("charge_id")}
    principal = fees = interest = paid = written_off = 0
    entries = []
    for line in lines:
        kind = line["kind"]
        p, f, i = int(line["principal_minor"]), int(line["fees_minor"]), int(line["interest_minor"])
        on = _day(line["occurred_at"])
        if kind in ("charge", "amendment"):
            principal += p
            fees += f
            if p:
                entries.append(Entry("principal", None, on, p))
            if f:
                entries.append(Entry("fee", line.get("fee_kind") or "slip_fee", on, f))
        elif kind in ("fee", "interest", "waiver"):
            fees += f
            interest += i
            if kind != "waiver" and line.get("charge_id") not in waived:
                entries.append(
                    Entry(
                        "interest" if kind == "interest" else "fee",
                        line.get("fee_kind"),
                        on,
                        f + i,
                        step=line.get("step"),
                        rate_pct=Decimal(str(line["rate_pct"])) if line.get("rate_pct") is not None else None,
                        interest_from=_date(line.get("interest_from")),
                        interest_to=_date(line.get("interest_to")),
                    )
                )
        elif kind in ("payment", "reversal"):
            covered = -(p + f + i)
            paid += covered
            if covered:
                value = _date(line.get("value_date")) or on
                entries.append(Entry("payment", None, value, -covered))
        elif kind == "write_off":
            written_off += -(p + f + i)
            entries.append(Entry("write_off", None, on, p + f + i))
        else:  # an entry kind this notifier does not know: still part of the balance
            principal += p
            fees += f
            interest += i
            entries.append(Entry("credit" if p + f + i < 0 else "fee", line.get("fee_kind"), on, p + f + i))
    # A charge and its waiver cancel: neither is shown, and the totals hold neither.
    return Money(principal, fees, interest, paid, written_off, tuple(entries), len(lines))


def stated(claims: Sequence[Mapping[str, Any]], moneys: Sequence[Money]) -> dict[str, Any]:
    """What a message states, kept with its delivery: per claim the ledger version and the total."""
    return {
        "claims": {
            str(c["claim_id"]): {
                "ledger_entries": m.ledger_entries,
                "total_minor": m.total_minor,
                "currency": c["currency"],
            }
            for c, m in zip(claims, moneys, strict=True)
        },
    }


def _day(value: str | datetime) -> date:
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).date()


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
