"""What payments-ingest learns from claims-api: every claim's reference goes into the index the
matcher reads, and a paid or cancelled claim is marked closed (but stays matchable). An Icelandic
bank claim follows the claim: created with it, amended with its balance and dates, cancelled with
it, moved to secondary collection at handover (bank_claims.service)."""

from __future__ import annotations

from functools import partial

from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, DecodedEvent, Event
from krafa_events.catalog import ClaimAmended, ClaimBalanceChanged, ClaimDeferred, ClaimEscalated, ClaimWrittenOff
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler, typed
from krafa_kit.db import UnitOfWork

from krafa_payments_ingest import personal_data, service
from krafa_payments_ingest.bank_claims import service as bank_claims


async def on_claim_created(uow: UnitOfWork, event: ClaimCreated, envelope: DecodedEvent, *, clock: Clock) -> None:
    if event.creditor.sandbox:
        # A sandbox's claim (docs/adr/0015) is never issued to a bank nor matched to a real
        # bank file's payment: a transfer naming its reference stays unmatched for an operator.
        return
    await service.index_claim(uow, event, clock.now())
    await bank_claims.on_claim_created(uow, event)


async def on_claim_paid(uow: UnitOfWork, event: ClaimPaid, envelope: DecodedEvent) -> None:
    await service.close_claim(
        uow,
        event_id=envelope.id,
        claim_id=event.claim_id,
        creditor_id=event.creditor_id,
        status="paid",
        at=event.paid_at,
    )
    await bank_claims.on_paid(uow, event.claim_id)


async def on_claim_cancelled(uow: UnitOfWork, event: ClaimCancelled, envelope: DecodedEvent) -> None:
    await service.close_claim(
        uow,
        event_id=envelope.id,
        claim_id=event.claim_id,
        creditor_id=event.creditor_id,
        status="cancelled",
        at=event.cancelled_at,
    )
    await bank_claims.on_closed(uow, event.claim_id)


async def on_written_off(uow: UnitOfWork, event: ClaimWrittenOff, envelope: DecodedEvent) -> None:
    await bank_claims.on_closed(uow, event.claim_id)


async def on_balance_changed(uow: UnitOfWork, event: ClaimBalanceChanged, envelope: DecodedEvent) -> None:
    await bank_claims.on_balance_changed(uow, event)


async def on_dates_changed(uow: UnitOfWork, event: ClaimAmended | ClaimDeferred, envelope: DecodedEvent) -> None:
    await bank_claims.on_dates_changed(uow, event.claim_id, event.final_due_date)


async def on_escalated(uow: UnitOfWork, event: ClaimEscalated, envelope: DecodedEvent) -> None:
    await bank_claims.on_escalated(uow, event.claim_id, event.stage)


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    """Each event this service consumes, with its handler (the registry lists the same events:
    tests/contract/test_routes_registry.py)."""
    return {
        ClaimCreated: typed(ClaimCreated, partial(on_claim_created, clock=clock)),
        ClaimPaid: typed(ClaimPaid, on_claim_paid),
        ClaimCancelled: typed(ClaimCancelled, on_claim_cancelled),
        ClaimWrittenOff: typed(ClaimWrittenOff, on_written_off),
        ClaimBalanceChanged: typed(ClaimBalanceChanged, on_balance_changed),
        ClaimAmended: typed(ClaimAmended, on_dates_changed),
        ClaimDeferred: typed(ClaimDeferred, on_dates_changed),
        ClaimEscalated: typed(ClaimEscalated, on_escalated),
        **personal_data.build_routes(clock),
    }
