"""The notifier keeps its own view of the claims (fed by the claims topic) and turns ReminderDue
and hard bounces into deliveries; the dispatcher sends them."""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, EmailBounced, Event, ReminderDue
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_notifier import repository, service


async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimCreated)
    await repository.upsert_claim(uow.conn, service.claim_view_values(envelope.event))


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
    await service.plan_fallback(uow, envelope.event)


ROUTES: dict[type[Event], Handler] = {
    ClaimCreated: on_claim_created,
    ClaimPaid: on_claim_paid,
    ClaimCancelled: on_claim_cancelled,
    ReminderDue: on_reminder_due,
    EmailBounced: on_email_bounced,
}
