"""Builders for tests: valid events by default, any field overridable."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from krafa_events.base import Channel, PostalAddress
from krafa_events.catalog import (
    ClaimBalanceChanged,
    ClaimCreated,
    CreditorSnapshot,
    CreditorUpdated,
    DebtorSnapshot,
    LedgerLine,
    PaymentReceived,
    ReminderDue,
    ReminderSent,
    SandboxClockAdvanced,
)


def a_claim_created(**overrides: Any) -> ClaimCreated:
    values: dict[str, Any] = {
        "creditor_id": uuid.uuid4(),
        "debtor_id": uuid.uuid4(),
        "claim_id": uuid.uuid4(),
        "invoice_no": "INV-1",
        "amount_minor": 10_000,
        "currency": "ISK",
        "fees_minor": 390,
        "issue_date": date(2026, 2, 1),
        "due_date": date(2026, 3, 2),
        "final_due_date": date(2026, 3, 12),
        "reference": "RF18539007547034",
        "jurisdiction": "IS",
        "creditor": CreditorSnapshot(name="Fram", contact_phone="+354 555 1234", payment_account="0159-26-007654"),
        "debtor": DebtorSnapshot(
            customer_no="C-1",
            name="Jón Jónsson",
            language="is",
            time_zone="Atlantic/Reykjavik",
            country="IS",
            email="jon@example.is",
            address=PostalAddress(
                name="Jón Jónsson", lines=("Laugavegur 1",), postcode="101", city="Reykjavík", country="IS"
            ),
        ),
        "created_at": datetime(2026, 2, 1, 12, tzinfo=UTC),
    }
    values.update(overrides)
    return ClaimCreated(**values)


def a_reminder_due(claim: ClaimCreated | None = None, **overrides: Any) -> ReminderDue:
    claim = claim or a_claim_created()
    values: dict[str, Any] = {
        "creditor_id": claim.creditor_id,
        "debtor_id": claim.debtor_id,
        "reminder_id": uuid.uuid4(),
        "claim_ids": (claim.claim_id,),
        "step": 1,
        "channels": (Channel.EMAIL, Channel.LETTER),
        "template": "reminder",
        "tone": "friendly",
        "currency": claim.currency,
        "due_at": datetime(2026, 3, 3, 9, tzinfo=UTC),
    }
    values.update(overrides)
    return ReminderDue(**values)


def a_reminder_sent(**overrides: Any) -> ReminderSent:
    values: dict[str, Any] = {
        "creditor_id": uuid.uuid4(),
        "debtor_id": uuid.uuid4(),
        "delivery_id": uuid.uuid4(),
        "reminder_id": uuid.uuid4(),
        "claim_ids": (uuid.uuid4(),),
        "step": 1,
        "channel": Channel.EMAIL,
        "recipient": "jon@example.is",
        "sent_at": datetime(2026, 3, 3, 9, tzinfo=UTC),
    }
    values.update(overrides)
    return ReminderSent(**values)


def a_payment_received(claim: ClaimCreated | None = None, **overrides: Any) -> PaymentReceived:
    claim = claim or a_claim_created()
    values: dict[str, Any] = {
        "creditor_id": claim.creditor_id,
        "debtor_id": claim.debtor_id,
        "payment_id": uuid.uuid4(),
        "claim_id": claim.claim_id,
        "amount_minor": claim.amount_minor + claim.fees_minor,
        "currency": claim.currency,
        "reference": claim.reference,
        "booking_date": date(2026, 3, 5),
        "value_date": date(2026, 3, 5),
        "bank_ref": "B-1",
        "source": "test",
        "received_at": datetime(2026, 3, 5, 10, tzinfo=UTC),
    }
    values.update(overrides)
    return PaymentReceived(**values)


def a_payment_line(
    amount_minor: int, value_date: date, *, principal: int, fees: int = 0, interest: int = 0, overpaid: int = 0
) -> LedgerLine:
    """A payment as claims-api's ledger allocated it: `principal`, `fees` and `interest` are what it
    took off each (positive numbers here; the line holds them as negative changes)."""
    assert principal + fees + interest + overpaid == amount_minor, "an allocation adds up to the payment"
    return LedgerLine(
        kind="payment",
        amount_minor=amount_minor,
        principal_minor=-principal,
        fees_minor=-fees,
        interest_minor=-interest,
        overpaid_minor=overpaid,
        occurred_at=datetime.combine(value_date, datetime.min.time(), tzinfo=UTC).replace(hour=12),
        value_date=value_date,
    )


def a_balance_changed(claim: ClaimCreated, *lines: LedgerLine, **overrides: Any) -> ClaimBalanceChanged:
    """The claim's ledger after `lines` (its opening charge first), with the totals they add up to."""
    opening = LedgerLine(
        kind="charge",
        fee_kind="slip_fee" if claim.fees_minor else None,
        amount_minor=claim.amount_minor + claim.fees_minor,
        principal_minor=claim.amount_minor,
        fees_minor=claim.fees_minor,
        occurred_at=claim.created_at,
    )
    every = (opening, *lines)
    principal = sum(line.principal_minor for line in every)
    fees = sum(line.fees_minor for line in every)
    interest = sum(line.interest_minor for line in every)
    values: dict[str, Any] = {
        "creditor_id": claim.creditor_id,
        "debtor_id": claim.debtor_id,
        "claim_id": claim.claim_id,
        "currency": claim.currency,
        "ledger_entries": len(every),
        "cause": "payment" if any(line.kind == "payment" for line in lines) else "fee",
        "principal_minor": principal,
        "fees_minor": fees,
        "interest_minor": interest,
        "overpaid_minor": sum(line.overpaid_minor for line in every),
        "balance_minor": principal + fees + interest,
        "paid_minor": sum(line.amount_minor for line in every if line.kind in ("payment", "reversal")),
        "lines": every,
        "changed_at": max(line.occurred_at for line in every),
    }
    values.update(overrides)
    return ClaimBalanceChanged(**values)


def a_creditor_updated(**overrides: Any) -> CreditorUpdated:
    values: dict[str, Any] = {
        "creditor_id": uuid.uuid4(),
        "debtor_id": uuid.UUID(int=0),
        "creditor": CreditorSnapshot(
            name="Ungmennafélagið Fram",
            contact_phone="+354 555 1234",
            payment_account="0159-26-007654",
            sender_email="innheimta@fram.is",
            sender_name="Fram – innheimta",
            reply_to="gjaldkeri@fram.is",
            sms_sender_id="FRAM",
        ),
        "updated_at": datetime(2026, 3, 2, 9, tzinfo=UTC),
    }
    values.update(overrides)
    return CreditorUpdated(**values)


def a_sandbox_clock_advanced(**overrides: Any) -> SandboxClockAdvanced:
    values: dict[str, Any] = {
        "creditor_id": uuid.uuid4(),
        "debtor_id": uuid.UUID(int=0),
        "offset_s": 30 * 86400,
        "advanced_by_s": 30 * 86400,
        "sandbox_now": datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
        "advanced_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return SandboxClockAdvanced(**values)
