"""The scheduler plans a timeline for every new claim and stops it when the claim is paid or
cancelled."""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, Event
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_scheduler import repository, service


async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimCreated)
    await service.plan(uow, envelope.event)


async def on_claim_paid(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimPaid)
    await repository.stop_timeline(uow.conn, envelope.event.claim_id, "paid")


async def on_claim_cancelled(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimCancelled)
    await repository.stop_timeline(uow.conn, envelope.event.claim_id, "cancelled")


ROUTES: dict[type[Event], Handler] = {
    ClaimCreated: on_claim_created,
    ClaimPaid: on_claim_paid,
    ClaimCancelled: on_claim_cancelled,
}
