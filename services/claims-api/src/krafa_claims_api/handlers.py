"""What claims-api does with the events of other services: apply payments, keep each claim's
history, and mark a bounced address so it is never used again for this creditor."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Any

from krafa_events import (
    DecodedEvent,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    Event,
    PaymentReceived,
    PaymentUnmatched,
    ReminderDue,
    ReminderSent,
)
from krafa_events.catalog import (
    CallOutcomeRecorded,
    CardInstalmentFailed,
    ClaimEscalated,
    ClaimWatchStarted,
    CreditorNoticeDue,
    FeeCharged,
    ReminderDelivered,
)
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler, PermanentError, typed
from krafa_kit.db import UnitOfWork
from krafa_kit.errors import Refusal

from krafa_claims_api import cards, lifecycle, personal_data, repository, service
from krafa_claims_api.debtors import service as debtor_service
from krafa_claims_api.webhooks import enqueue_webhook

log = logging.getLogger(__name__)


async def on_payment_received(uow: UnitOfWork, event: PaymentReceived, envelope: DecodedEvent, *, clock: Clock) -> None:
    await service.apply_payment(
        uow,
        event_id=envelope.id,
        creditor_id=event.creditor_id,
        claim_id=event.claim_id,
        amount_minor=event.amount_minor,
        occurred_at=event.received_at,
        now=clock.now(),
        details={
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "reference": event.reference,
            "bank_ref": event.bank_ref,
            "payment_id": str(event.payment_id),
            # The day the money counts from, for the interest on what it leaves unpaid.
            "value_date": (event.value_date or event.booking_date or event.received_at.date()).isoformat(),
            # The ledger as the payer was shown it, when they paid all of that (lifecycle.hold_to_statement).
            **({"stated_entries": event.stated_entries} if event.stated_entries is not None else {}),
        },
    )


async def on_due_date_passed(uow: UnitOfWork, event: DueDatePassed, envelope: DecodedEvent) -> None:
    await repository.mark_overdue(uow.conn, event.creditor_id, event.claim_id)
    await _history(uow, envelope, [event.claim_id], event.passed_at, {"due_date": event.due_date.isoformat()})


async def on_reminder_due(uow: UnitOfWork, event: ReminderDue, envelope: DecodedEvent) -> None:
    await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.due_at,
        {
            "step": event.step,
            "channels": [c.value for c in event.channels],
            "tone": event.tone,
            # What the reminder tells the debtor (summed over the claims it groups).
            "fee_minor": event.fee_minor,
            "interest_minor": event.interest_minor,
        },
    )


async def on_reminder_sent(uow: UnitOfWork, event: ReminderSent, envelope: DecodedEvent) -> None:
    await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.sent_at,
        {
            "step": event.step,
            "channel": event.channel.value,
            "delivery_id": str(event.delivery_id),
            "fallback_for": str(event.fallback_for) if event.fallback_for else None,
        },
    )


async def on_delivery_failed(uow: UnitOfWork, event: DeliveryFailed, envelope: DecodedEvent) -> None:
    await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.failed_at,
        {
            "channel": event.channel.value,
            "reason": event.reason,
            "fallback_channel": event.fallback_channel.value if event.fallback_channel else None,
        },
    )


async def on_fee_charged(uow: UnitOfWork, event: FeeCharged, envelope: DecodedEvent) -> None:
    claim = await repository.get_claim_for_update(uow.conn, event.claim_id)
    if claim is None or claim["creditor_id"] != event.creditor_id:
        raise PermanentError(f"fee for unknown claim {event.claim_id}")
    if claim["currency"] != event.currency:
        raise PermanentError(f"fee in {event.currency} for a claim in {claim['currency']}")
    waived = await lifecycle.waiver_reason(uow.conn, claim, event.charged_at)
    if waived and await repository.fee_in_history(uow.conn, event.claim_id, event.fee_id):
        return  # the waiver of this charge is on record already (a replay)
    added = await lifecycle.charge_fee(
        uow,
        claim,
        fee_id=event.fee_id,
        kind=event.kind,
        amount_minor=event.amount_minor,
        step=event.step,
        charged_at=event.charged_at,
        interest_terms={
            key: str(value)
            for key, value in (
                ("rate_pct", event.rate_pct),
                ("interest_from", event.interest_from),
                ("interest_to", event.interest_to),
            )
            if value is not None
        },
    )
    if added or waived:
        await _history(
            uow,
            envelope,
            [event.claim_id],
            event.charged_at,
            {
                "fee_id": str(event.fee_id),
                **({"waived": waived} if waived else {}),
                "kind": event.kind,
                # Late interest is the ledger's interest component; every other kind a fee.
                "component": "interest" if event.kind == lifecycle.LATE_INTEREST else "fees",
                "step": event.step,
                "amount_minor": event.amount_minor,
                "currency": event.currency,
            },
        )


async def on_creditor_notice_due(uow: UnitOfWork, event: CreditorNoticeDue, envelope: DecodedEvent) -> None:
    owned = await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.noticed_at,
        {"notice_id": str(event.notice_id), "handover_at": event.handover_at.isoformat()},
    )
    if owned:
        # Icelandic payment slips (docs/domain.md): the creditor has 24 hours to hold claims before the handover.
        await enqueue_webhook(
            uow.conn,
            event.creditor_id,
            "claim.handover_pending",
            {
                "notice_id": str(event.notice_id),
                "claims": [{"claim_id": str(r["id"]), "invoice_no": r["invoice_no"]} for r in owned],
                "handover_at": event.handover_at.isoformat(),
            },
        )


async def on_claim_escalated(uow: UnitOfWork, event: ClaimEscalated, envelope: DecodedEvent) -> None:
    await _set_stage(uow, event.creditor_id, event.claim_id, event.stage)
    await _history(uow, envelope, [event.claim_id], event.escalated_at, {"stage": event.stage})


async def on_claim_watch_started(uow: UnitOfWork, event: ClaimWatchStarted, envelope: DecodedEvent) -> None:
    # From now on every payment on the claim is split by the agency's terms (lifecycle.record_payment).
    await repository.set_watch(uow.conn, event.creditor_id, event.claim_id, event.started_at, event.creditor_share_pct)
    await _history(
        uow,
        envelope,
        [event.claim_id],
        event.started_at,
        {"creditor_share_pct": event.creditor_share_pct, "interval_days": event.interval_days},
    )


async def on_reminder_delivered(uow: UnitOfWork, event: ReminderDelivered, envelope: DecodedEvent) -> None:
    await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.delivered_at,
        {"channel": event.channel.value, "delivery_id": str(event.delivery_id)},
    )


async def on_call_outcome(uow: UnitOfWork, event: CallOutcomeRecorded, envelope: DecodedEvent, *, clock: Clock) -> None:
    owned = await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.recorded_at,
        {
            "channel": "call",
            "outcome": event.outcome,
            "promised_date": event.promised_date.isoformat() if event.promised_date else None,
            "instalments": [
                {"due_date": i.due_date.isoformat(), "amount_minor": i.amount_minor} for i in event.instalments
            ],
            "note": event.note,
            "agent": event.agent,
        },
    )
    now = clock.now()
    for row in owned:
        await _apply_call_outcome(uow, event, row["id"], now)


async def on_payment_unmatched(uow: UnitOfWork, event: PaymentUnmatched, envelope: DecodedEvent) -> None:
    if event.creditor_id.int == 0 or await repository.get_creditor(uow.conn, event.creditor_id) is None:
        return  # nobody to tell: it waits in the operator queue
    await enqueue_webhook(
        uow.conn,
        event.creditor_id,
        "payment.unmatched",
        {
            "payment_id": str(event.payment_id),
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "reference": event.reference,
            "remittance_text": event.remittance_text,
            "booking_date": event.booking_date.isoformat() if event.booking_date else None,
            "bank_ref": event.bank_ref,
            "reason": event.reason,
        },
    )


async def on_card_instalment_failed(
    uow: UnitOfWork, event: CardInstalmentFailed, envelope: DecodedEvent, *, clock: Clock
) -> None:
    await cards.slip_for_failed_instalment(uow, event, clock.now())


async def on_email_bounced(uow: UnitOfWork, event: EmailBounced, envelope: DecodedEvent, *, clock: Clock) -> None:
    if event.kind == "hard":
        # The contact point is never used again for this creditor; DebtorUpdated tells the others.
        changed = await debtor_service.mark_bounced(
            uow, event.creditor_id, event.debtor_id, event.recipient, event.reason, clock.now()
        )
        if changed:
            # The creditor fixes their contact list from this; sent once, when the state changes.
            await enqueue_webhook(
                uow.conn,
                event.creditor_id,
                "contact.bounced",
                {
                    "debtor_id": str(event.debtor_id),
                    "address": event.recipient,
                    "kind": event.kind,
                    "status": event.status,
                    "reason": event.reason,
                    "claim_ids": [str(c) for c in event.claim_ids],
                    "bounced_at": event.bounced_at.isoformat(),
                },
            )
    await _history(
        uow,
        envelope,
        list(event.claim_ids),
        event.bounced_at,
        {"kind": event.kind, "status": event.status, "delivery_id": str(event.delivery_id)},
    )


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    return {
        PaymentReceived: typed(PaymentReceived, partial(on_payment_received, clock=clock)),
        DueDatePassed: typed(DueDatePassed, on_due_date_passed),
        ReminderDue: typed(ReminderDue, on_reminder_due),
        ReminderSent: typed(ReminderSent, on_reminder_sent),
        DeliveryFailed: typed(DeliveryFailed, on_delivery_failed),
        EmailBounced: typed(EmailBounced, partial(on_email_bounced, clock=clock)),
        FeeCharged: typed(FeeCharged, on_fee_charged),
        CreditorNoticeDue: typed(CreditorNoticeDue, on_creditor_notice_due),
        ClaimEscalated: typed(ClaimEscalated, on_claim_escalated),
        ClaimWatchStarted: typed(ClaimWatchStarted, on_claim_watch_started),
        ReminderDelivered: typed(ReminderDelivered, on_reminder_delivered),
        CallOutcomeRecorded: typed(CallOutcomeRecorded, partial(on_call_outcome, clock=clock)),
        PaymentUnmatched: typed(PaymentUnmatched, on_payment_unmatched),
        CardInstalmentFailed: typed(CardInstalmentFailed, partial(on_card_instalment_failed, clock=clock)),
        **personal_data.build_routes(),  # each service's answer to an erasure or export
    }


async def _set_stage(uow: UnitOfWork, creditor_id: uuid.UUID, claim_id: uuid.UUID, stage: str) -> None:
    await repository.set_stage(uow.conn, creditor_id, claim_id, stage)


async def _apply_call_outcome(uow: UnitOfWork, event: CallOutcomeRecorded, claim_id: uuid.UUID, now: datetime) -> None:
    """Turn an agent's call outcome into the lifecycle change it stands for. An outcome the claim's
    state no longer allows (already paid, already disputed, a plan that does not add up) stays in
    the history only: the agent's record is true even when it changes nothing."""
    creditor_id = event.creditor_id
    source = f"call:{event.task_id}"
    try:
        async with uow.conn.transaction():  # a savepoint: a refused change leaves no partial write
            if event.outcome == "dispute":
                reason = event.note or "disputed on the phone"
                await lifecycle.dispute(uow, creditor_id, claim_id, reason, now, source=source)
            elif event.outcome in ("promise_to_pay", "deferral") and event.promised_date is not None:
                await lifecycle.defer(uow, creditor_id, claim_id, event.promised_date, None, now, source=source)
            elif event.outcome == "instalments" and event.instalments:
                plan = [(i.due_date, i.amount_minor) for i in event.instalments]
                await lifecycle.split(uow, creditor_id, claim_id, plan, now, source=source)
    except Refusal as exc:
        log.info(
            "call outcome not applied",
            extra={"claim": str(claim_id), "outcome": event.outcome, "reason": exc.detail, "kind": exc.kind},
        )


async def _history(
    uow: UnitOfWork, envelope: DecodedEvent, claim_ids: list[uuid.UUID], at: datetime, details: dict[str, Any]
) -> list[Any]:
    """Add the event to the history of those claims that belong to its creditor; returns them."""
    creditor_id = envelope.event.creditor_id
    # Only claims of the event's creditor get its history (tenant isolation on event paths too).
    owned = await repository.owned_claims(uow.conn, creditor_id, claim_ids)
    await repository.add_history(
        uow.conn, [(row["id"], uuid.UUID(envelope.id), envelope.type, at, details) for row in owned]
    )
    return list(owned)
