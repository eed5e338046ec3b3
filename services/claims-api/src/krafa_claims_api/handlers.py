"""What claims-api does with the events of other services: apply payments, keep each claim's
history, and mark a bounced address so it is never used again for this creditor."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from krafa_events import (
    DecodedEvent,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    Event,
    PaymentReceived,
    ReminderDue,
    ReminderSent,
)
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_claims_api import repository, service


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    async def on_payment_received(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, PaymentReceived)
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
            },
        )

    async def on_due_date_passed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, DueDatePassed)
        await uow.conn.execute(
            "UPDATE claims SET overdue = true WHERE id = $1 AND creditor_id = $2", event.claim_id, event.creditor_id
        )
        await _history(uow, envelope, [event.claim_id], event.passed_at, {"due_date": event.due_date.isoformat()})

    async def on_reminder_due(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ReminderDue)
        await _history(
            uow,
            envelope,
            list(event.claim_ids),
            event.due_at,
            {"step": event.step, "channels": [c.value for c in event.channels], "tone": event.tone},
        )

    async def on_reminder_sent(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ReminderSent)
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

    async def on_delivery_failed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, DeliveryFailed)
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

    async def on_email_bounced(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, EmailBounced)
        if event.kind == "hard":
            await uow.conn.execute(
                "UPDATE debtors SET email_state = 'bounced', updated_at = now()"
                " WHERE id = $1 AND creditor_id = $2 AND lower(email) = lower($3)",
                event.debtor_id,
                event.creditor_id,
                event.recipient,
            )
        await _history(
            uow,
            envelope,
            list(event.claim_ids),
            event.bounced_at,
            {"kind": event.kind, "status": event.status, "delivery_id": str(event.delivery_id)},
        )

    return {
        PaymentReceived: on_payment_received,
        DueDatePassed: on_due_date_passed,
        ReminderDue: on_reminder_due,
        ReminderSent: on_reminder_sent,
        DeliveryFailed: on_delivery_failed,
        EmailBounced: on_email_bounced,
    }


async def _history(
    uow: UnitOfWork, envelope: DecodedEvent, claim_ids: list[uuid.UUID], at: datetime, details: dict[str, Any]
) -> None:
    creditor_id = envelope.event.creditor_id
    # Only claims of the event's creditor get its history (tenant isolation on event paths too).
    owned = await uow.conn.fetch(
        "SELECT id FROM claims WHERE id = ANY($1::uuid[]) AND creditor_id = $2", claim_ids, creditor_id
    )
    await repository.add_history(
        uow.conn, [(row["id"], uuid.UUID(envelope.id), envelope.type, at, details) for row in owned]
    )
