"""Icelandic payment slips (docs/domain.md): when a card instalment fails authorisation, a payment slip is created
for that instalment with due date and final due date today; the next instalment retries the card."""

from __future__ import annotations

import uuid
from datetime import datetime

from krafa_events import (
    ClaimCreated,
    references,
)
from krafa_events.catalog import (
    CardInstalmentFailed,
)
from krafa_kit.consumer import PermanentError
from krafa_kit.db import UnitOfWork

from krafa_claims_api import claim_keys, domain, ledger_repository, repository
from krafa_claims_api.debtors import domain as debtor_domain
from krafa_claims_api.debtors import repository as debtor_repository


def invoice_no(event: CardInstalmentFailed) -> str:
    return f"CARD-{event.agreement_ref}-{event.instalment_no}"


async def slip_for_failed_instalment(uow: UnitOfWork, event: CardInstalmentFailed, now: datetime) -> uuid.UUID | None:
    """Create the payment-slip claim (idempotent by failure_id); returns its id, or None on a
    replay. An unknown creditor or customer number is a permanent error (the DLQ)."""
    conn = uow.conn
    if await repository.card_failure_seen(conn, event.failure_id):
        return None
    creditor = await repository.get_creditor(conn, event.creditor_id)
    if creditor is None:
        raise PermanentError(f"card instalment failure for unknown creditor {event.creditor_id}")
    debtor_id = await debtor_repository.id_by_customer_no(conn, event.creditor_id, event.customer_no)
    if debtor_id is None:
        raise PermanentError(f"customer {event.customer_no!r} is unknown to creditor {event.creditor_id}")
    today = now.date()
    claim_id = uuid.uuid4()
    fees = creditor["slip_fee_minor"] if event.currency == creditor["currency"] else 0
    description = f"Card instalment {event.instalment_no} ({event.agreement_ref}) was declined: {event.reason}"[:500]
    # The debtors package decides what is usable (bounced and opted-out contact points left out).
    loaded = await debtor_repository.get(conn, event.creditor_id, debtor_id)
    assert loaded is not None
    snapshot = debtor_domain.snapshot(loaded)
    # The slip for a declined instalment is a claim like any other (in the netbank, in Iceland;
    # docs/domain.md, Icelandic payment slips).
    terms = domain.payment_terms(creditor)
    payment = await claim_keys.free_payment(
        conn,
        event.creditor_id,
        lambda: domain.payment_identity(
            terms,
            None,
            references.random_number(),
            debtor_country=snapshot.country,
            debtor_national_id=loaded.master.get("national_id"),
            due_date=today,
            currency=event.currency,
        ),
    )
    reference = payment.reference
    event_out = ClaimCreated(
        creditor_id=event.creditor_id,
        debtor_id=debtor_id,
        claim_id=claim_id,
        invoice_no=invoice_no(event),
        amount_minor=event.amount_minor,
        currency=event.currency,
        fees_minor=fees,
        issue_date=today,
        due_date=today,
        final_due_date=today,
        reference=reference,
        description=description,
        department=None,
        jurisdiction=creditor["country"],
        creditor=domain.creditor_snapshot(creditor),
        debtor=snapshot,
        created_at=now,
        payment=payment,
    )
    inserted = await repository.insert_slip(
        conn,
        claim_id,
        event.creditor_id,
        debtor_id,
        invoice_no=invoice_no(event),
        amount_minor=event.amount_minor,
        fees_minor=fees,
        currency=event.currency,
        due=today,
        reference=reference,
        description=description,
        now=now,
        payment=payment.model_dump(mode="json"),
    )
    if not inserted:
        # The same instalment under another failure id (the processor re-reported it): one slip.
        return None
    await repository.add_card_failure(conn, event.failure_id, event.creditor_id, claim_id)
    await ledger_repository.record_created(conn, [claim_id])
    event_id = uow.outbox.add(event_out, time=now)
    await repository.add_history(
        conn,
        [
            (
                claim_id,
                uuid.UUID(event_id),
                ClaimCreated.TYPE,
                now,
                {
                    "amount_minor": event.amount_minor,
                    "fees_minor": fees,
                    "currency": event.currency,
                    "source": "card_instalment_failed",
                    "failure_id": str(event.failure_id),
                    "agreement_ref": event.agreement_ref,
                    "instalment_no": event.instalment_no,
                },
            )
        ],
    )
    return claim_id
