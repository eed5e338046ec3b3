"""What payments-ingest learns from claims-api: every claim's reference goes into the index the
matcher reads, and a paid or cancelled claim is marked closed (but stays matchable). An Icelandic
bank claim follows the claim: created with it, amended with its balance and dates, cancelled with
it, moved to secondary collection at handover (bank_claims.service)."""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, Event
from krafa_events.catalog import ClaimAmended, ClaimBalanceChanged, ClaimDeferred, ClaimEscalated, ClaimWrittenOff
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_payments_ingest import personal_data, service
from krafa_payments_ingest.bank_claims import service as bank_claims


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimCreated)
        await service.index_claim(uow, event, clock.now())
        await bank_claims.on_claim_created(uow, event)

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
        await bank_claims.on_paid(uow, event.claim_id)

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
        await bank_claims.on_closed(uow, event.claim_id)

    async def on_written_off(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimWrittenOff)
        await bank_claims.on_closed(uow, event.claim_id)

    async def on_balance_changed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimBalanceChanged)
        await bank_claims.on_balance_changed(uow, event)

    async def on_amended(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimAmended | ClaimDeferred)
        await bank_claims.on_dates_changed(uow, event.claim_id, event.final_due_date)

    async def on_escalated(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ClaimEscalated)
        await bank_claims.on_escalated(uow, event.claim_id, event.stage)

    return {
        ClaimCreated: on_claim_created,
        ClaimPaid: on_claim_paid,
        ClaimCancelled: on_claim_cancelled,
        ClaimWrittenOff: on_written_off,
        ClaimBalanceChanged: on_balance_changed,
        ClaimAmended: on_amended,
        ClaimDeferred: on_amended,
        ClaimEscalated: on_escalated,
        **personal_data.build_routes(clock),
    }
