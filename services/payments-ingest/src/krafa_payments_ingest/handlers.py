"""What payments-ingest learns from claims-api: every claim's reference goes into the index the
matcher reads, and a paid or cancelled claim is marked closed (but stays matchable)."""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, Event
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_payments_ingest import service


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimCreated)
        await service.index_claim(uow, event, clock.now())

    async def on_claim_paid(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimPaid)
        await service.close_claim(
            uow,
            event_id=envelope.id,
            claim_id=event.claim_id,
            creditor_id=event.creditor_id,
            status="paid",
            at=event.paid_at,
        )

    async def on_claim_cancelled(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimCancelled)
        await service.close_claim(
            uow,
            event_id=envelope.id,
            claim_id=event.claim_id,
            creditor_id=event.creditor_id,
            status="cancelled",
            at=event.cancelled_at,
        )

    return {
        ClaimCreated: on_claim_created,
        ClaimPaid: on_claim_paid,
        ClaimCancelled: on_claim_cancelled,
    }
