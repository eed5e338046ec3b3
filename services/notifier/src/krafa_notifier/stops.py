"""The stops lane: every event that ends, pauses or re-plans a claim's dunning, or that makes a
queued message wrong, consumed apart from the ReminderDue the main consumer works through, so it
reaches the dispatcher's fence first however long the queue of sends is (docs/adr/0008).

- paid, cancelled, disputed, held, written off: `claim_states.status`; a send is not started for
  a claim that is not open. A dispute resumed or a hold released opens it again.
- amended, deferred, split into instalments, released, resumed: the timeline was re-planned
  (`replanned_at`), so reminders planned before that are stale (the scheduler plans new ones).
- PaymentReceived: a payment hold, straight from payments-ingest, one hop before claims-api's
  ClaimPaid: the claim's sends wait until claims-api has booked the payment (the
  ClaimBalanceChanged naming it, with ClaimPaid beside it when it settled the claim), so a payment
  that settles the claim is never overtaken, and one that does not is stated in the balance. A
  hold claims-api never answers lapses after PAYMENT_HOLD_LAPSE (repository).
- EmailBounced: the address is suppressed before the next send to it, and the fallback planned.
- DebtorUpdated: the debtor's contact points as the creditor now gives them.
"""

from __future__ import annotations

from krafa_events import ClaimCancelled, ClaimPaid, DecodedEvent, EmailBounced, Event, PaymentReceived
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

from krafa_notifier import repository, service, soft_retry

_PAUSED = ("disputed", "held")


async def on_claim_paid(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimPaid)
    await repository.set_claim_status(uow.conn, envelope.event.claim_id, "paid")


async def on_claim_cancelled(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, ClaimCancelled)
    await repository.set_claim_status(uow.conn, envelope.event.claim_id, "cancelled")


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
    await repository.replanned(uow.conn, event.claim_id, event.amended_at)


async def on_claim_deferred(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimDeferred)
    await repository.replanned(uow.conn, event.claim_id, event.deferred_at)


async def on_instalment_plan_agreed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimInstalmentPlanAgreed)
    await repository.replanned(uow.conn, event.claim_id, event.agreed_at)


async def on_payment_received(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, PaymentReceived)
    if event.amount_minor > 0:  # a reversal never stops a send
        await repository.hold_for_payment(uow.conn, event.claim_id, event.payment_id)


async def on_balance_changed(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, ClaimBalanceChanged)
    # A payment that left nothing owed keeps its hold: the ClaimPaid booked with it closes the
    # claim, and a send must not slip in between the two.
    if event.payment_id is not None and event.balance_minor > 0:
        await repository.payments_booked(uow.conn, event.claim_id, [event.payment_id], event.ledger_entries)


async def on_email_bounced(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    assert isinstance(envelope.event, EmailBounced)
    # A soft bounce schedules a re-send; the one after the last re-send comes back as hard.
    bounce = await soft_retry.absorb(uow, envelope.event)
    if bounce is not None:
        await service.plan_fallback(uow, bounce)


async def on_debtor_updated(uow: UnitOfWork, envelope: DecodedEvent) -> None:
    event = envelope.event
    assert isinstance(event, DebtorUpdated)
    await service.record_debtor(uow, event.creditor_id, event.debtor_id, event.debtor, event.updated_at)
    # Each claim's copy taken from its ClaimCreated follows the debtor too (name, address, language).
    await repository.refresh_claim_copies(uow.conn, event.creditor_id, event.debtor_id)


ROUTES: dict[type[Event], Handler] = {
    ClaimPaid: on_claim_paid,
    ClaimCancelled: on_claim_cancelled,
    ClaimDisputed: on_claim_disputed,
    ClaimDisputeResolved: on_dispute_resolved,
    ClaimHeld: on_claim_held,
    ClaimReleased: on_claim_released,
    ClaimWrittenOff: on_claim_written_off,
    ClaimAmended: on_claim_amended,
    ClaimDeferred: on_claim_deferred,
    ClaimInstalmentPlanAgreed: on_instalment_plan_agreed,
    PaymentReceived: on_payment_received,
    ClaimBalanceChanged: on_balance_changed,
    EmailBounced: on_email_bounced,
    DebtorUpdated: on_debtor_updated,
}
