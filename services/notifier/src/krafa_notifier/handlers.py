"""The notifier's main consumer keeps its view of the claims' content (ClaimCreated, amendments,
the ledger as booked) and turns ReminderDue into deliveries; every event that stops or changes a send is consumed on
the stops lane (stops.py), never queued behind these. The dispatcher sends the deliveries."""

from __future__ import annotations

from krafa_events import ClaimCreated, DecodedEvent, Event, ReminderDue
from krafa_events.catalog import ClaimAmended, ClaimBalanceChanged, CreditorUpdated
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler, typed
from krafa_kit.db import UnitOfWork
from krafa_kit.runtime import Lane

from krafa_notifier import balance, domain, personal_data, repository, service, stops


async def on_claim_created(uow: UnitOfWork, event: ClaimCreated, envelope: DecodedEvent) -> None:
    await repository.upsert_claim(uow.conn, domain.claim_view_values(event))
    await service.record_debtor(uow, event.creditor_id, event.debtor_id, event.debtor, event.created_at)


async def on_claim_amended(uow: UnitOfWork, event: ClaimAmended, envelope: DecodedEvent) -> None:
    # The content only: its ClaimCreated came before it on this consumer. The re-plan is the
    # stops lane's.
    await repository.amend_claim(uow.conn, event.claim_id, amount_minor=event.amount_minor, due_date=event.due_date)


async def on_balance_changed(uow: UnitOfWork, event: ClaimBalanceChanged, envelope: DecodedEvent) -> None:
    """The claim's ledger as booked: what every later message states. Here, after the claim's
    ClaimCreated; the stops lane ends a payment's hold only once this view has the booking."""
    if not event.lines:
        return  # an announcement without the itemised ledger (an older claims-api): nothing to state from
    await repository.record_balance(
        uow.conn, event.claim_id, event.ledger_entries, balance.ledger_of(event), balance.booked_fee_ids(event)
    )


async def on_creditor_updated(uow: UnitOfWork, event: CreditorUpdated, envelope: DecodedEvent) -> None:
    """How the creditor's messages name it from now on (its claims registered before included)."""
    sender = {name: getattr(event.creditor, name) for name in domain.SENDER_FIELDS}
    await repository.record_creditor_sender(uow.conn, event.creditor_id, sender, event.updated_at)


async def on_reminder_due(uow: UnitOfWork, event: ReminderDue, envelope: DecodedEvent) -> None:
    await service.plan_reminder(uow, event)


ROUTES: dict[type[Event], Handler] = {
    ClaimCreated: typed(ClaimCreated, on_claim_created),
    ClaimAmended: typed(ClaimAmended, on_claim_amended),
    ClaimBalanceChanged: typed(ClaimBalanceChanged, on_balance_changed),
    ReminderDue: typed(ReminderDue, on_reminder_due),
    CreditorUpdated: typed(CreditorUpdated, on_creditor_updated),
}
# The stops lane on a thread of its own: the dispatcher's sends keep the service's event loop
# busy through a burst, and a stop must not wait for its turns (docs/adr/0008).
LANES = (Lane("stops", stops.ROUTES, thread=True),)


def build_routes(clock: Clock) -> dict[type[Event], Handler]:
    """The main consumer's table, with the service's answer to a personal-data request (the stops
    lane has its own: LANES)."""
    return {**ROUTES, **personal_data.build_routes(clock)}
