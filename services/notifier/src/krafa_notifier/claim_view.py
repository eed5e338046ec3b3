"""The notifier's view of each claim's dunning state and of each debtor's contact points, fed by
the claims topic, so the dispatcher can drop a queued reminder that became stale: a claim
disputed, held or written off stops its reminders; one deferred, amended, split into
instalments, released or resumed from a dispute was re-planned, so the reminders planned before
that are not sent (the scheduler plans new ones). A DebtorUpdated replaces the debtor's contact
snapshot (and every claim's copy of it): an address the creditor marked bounced or opted out is no
longer in it."""

from __future__ import annotations

from krafa_events import DecodedEvent, Event
from krafa_events.catalog import (
    ClaimAmended,
    ClaimBalanceChanged,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimReleased,
    ClaimWrittenOff,
    DebtorUpdated,
)
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_notifier import balance, repository, service

_PAUSED = ("disputed", "held")


async def on_claim_disputed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimDisputed)
    await repository.set_claim_status(uow.conn, envelope.event.claim_id, "disputed", only_from=("open", "held"))


async def on_dispute_resolved(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimDisputeResolved)
    if event.outcome == "resume":
        await repository.set_claim_status(uow.conn, event.claim_id, "open", only_from=("disputed",))
        await repository.replanned(uow.conn, event.claim_id, event.resolved_at)
    # "cancel": stays disputed until the ClaimCancelled that follows.


async def on_claim_held(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimHeld)
    await repository.set_claim_status(uow.conn, envelope.event.claim_id, "held", only_from=("open",))


async def on_claim_released(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimReleased)
    await repository.set_claim_status(uow.conn, event.claim_id, "open", only_from=("held",))
    await repository.replanned(uow.conn, event.claim_id, event.released_at)


async def on_claim_written_off(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimWrittenOff)
    await repository.set_claim_status(uow.conn, envelope.event.claim_id, "written_off", only_from=("open", *_PAUSED))


async def on_claim_amended(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimAmended)
    await repository.replanned(
        uow.conn, event.claim_id, event.amended_at, amount_minor=event.amount_minor, due_date=event.due_date
    )


async def on_claim_deferred(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimDeferred)
    await repository.replanned(uow.conn, event.claim_id, event.deferred_at, due_date=event.due_date)


async def on_instalment_plan_agreed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimInstalmentPlanAgreed)
    await repository.replanned(uow.conn, event.claim_id, event.agreed_at)


async def on_balance_changed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    """The claim's ledger as booked: what every later message states."""
    event = envelope.event
    assert isinstance(event, ClaimBalanceChanged)
    if not event.lines:
        return  # an announcement without the itemised ledger (an older claims-api): nothing to state from
    await repository.record_balance(
        uow.conn, event.claim_id, event.ledger_entries, balance.ledger_of(event), balance.booked_fee_ids(event)
    )


async def on_debtor_updated(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, DebtorUpdated)
    await service.record_debtor(uow, event.creditor_id, event.debtor_id, event.debtor, event.updated_at)
    # Each claim's copy taken from its ClaimCreated follows the debtor too (name, address, language).
    await repository.refresh_claim_copies(uow.conn, event.creditor_id, event.debtor_id)


ROUTES: dict[type[Event], Handler] = {
    ClaimDisputed: on_claim_disputed,
    ClaimDisputeResolved: on_dispute_resolved,
    ClaimHeld: on_claim_held,
    ClaimReleased: on_claim_released,
    ClaimWrittenOff: on_claim_written_off,
    ClaimAmended: on_claim_amended,
    ClaimDeferred: on_claim_deferred,
    ClaimInstalmentPlanAgreed: on_instalment_plan_agreed,
    DebtorUpdated: on_debtor_updated,
    ClaimBalanceChanged: on_balance_changed,
}
