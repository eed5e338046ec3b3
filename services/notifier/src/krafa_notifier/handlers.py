"""The notifier keeps its own view of the claims (fed by the claims topic) and turns ReminderDue
and hard bounces into deliveries; the dispatcher sends them."""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, EmailBounced, Event, ReminderDue
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_notifier import claim_view, repository, service, soft_retry


async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimCreated)
    await repository.upsert_claim(uow.conn, service.claim_view_values(event))
    await service.record_debtor(uow, event.creditor_id, event.debtor_id, event.debtor, event.created_at)


async def on_claim_paid(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimPaid)
    await repository.close_claim(uow.conn, envelope.event.claim_id, "paid")


async def on_claim_cancelled(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimCancelled)
    await repository.close_claim(uow.conn, envelope.event.claim_id, "cancelled")


async def on_reminder_due(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ReminderDue)
    await service.plan_reminder(uow, envelope.event)


async def on_email_bounced(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, EmailBounced)
    # A soft bounce schedules a re-send; the one after the last re-send comes back as hard.
    bounce = await soft_retry.absorb(uow, envelope.event)
    if bounce is not None:
        await service.plan_fallback(uow, bounce)


ROUTES: dict[type[Event], Handler] = {
    ClaimCreated: on_claim_created,
    ClaimPaid: on_claim_paid,
    ClaimCancelled: on_claim_cancelled,
    ReminderDue: on_reminder_due,
    EmailBounced: on_email_bounced,
    **claim_view.ROUTES,  # disputes, holds, deferrals, write-offs, debtor contact changes
}
