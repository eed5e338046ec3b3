"""Stops overtake sends (docs/adr/0008), over the real PostgreSQL, broker and SMTP server: a stop
published behind a burst of reminders reaches the fence before any send it must stop; a payment
holds its claim's messages until claims-api has booked it; nothing is sent while the stops lane
is behind its topics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from krafa_events import ClaimPaid, ReminderSent, Topic
from krafa_events.catalog import ClaimBalanceChanged, ClaimCreated, LedgerLine
from krafa_events.testing import a_claim_created, a_payment_received, a_reminder_due
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier.app import create_app
from krafa_notifier.service import Dispatcher

from .conftest import World

pytestmark = pytest.mark.integration


def paid(claim: ClaimCreated) -> ClaimPaid:
    return ClaimPaid(
        creditor_id=claim.creditor_id,
        debtor_id=claim.debtor_id,
        claim_id=claim.claim_id,
        amount_paid_minor=claim.amount_minor + claim.fees_minor,
        currency=claim.currency,
        paid_at=datetime.now(UTC),
    )


def booked(claim: ClaimCreated, payment_id: uuid.UUID, balance: int) -> ClaimBalanceChanged:
    """claims-api's announcement of a payment it booked: the ledger with the opening charge and the
    payment, taken off the slip fee first, then the principal."""
    owed = claim.amount_minor + claim.fees_minor
    paid = owed - balance
    at = datetime.now(UTC)
    return ClaimBalanceChanged(
        creditor_id=claim.creditor_id,
        debtor_id=claim.debtor_id,
        claim_id=claim.claim_id,
        currency=claim.currency,
        principal_minor=balance,
        fees_minor=0,
        interest_minor=0,
        paid_minor=paid,
        balance_minor=balance,
        cause="payment",
        ledger_entries=2,
        changed_at=at,
        payment_id=payment_id,
        lines=(
            LedgerLine(
                kind="charge", amount_minor=owed, principal_minor=claim.amount_minor, fees_minor=claim.fees_minor,
                occurred_at=claim.created_at,
            ),
            LedgerLine(
                kind="payment", amount_minor=paid, fees_minor=-claim.fees_minor,
                principal_minor=-(paid - claim.fees_minor), occurred_at=at,
            ),
        ),
    )  # fmt: skip


async def test_stops_published_behind_a_burst_of_reminders_are_never_overtaken(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    claims = [a_claim_created(debtor_id=uuid.uuid4(), invoice_no=f"INV-{i}") for i in range(600)]
    stopped = claims[-200:]
    app = create_app(world.settings(database_url, broker))
    async with serving(app):
        db = app.state.runtime.db

        async def has(sql: str, n: int) -> bool:
            async with db.connection() as conn:
                return int(await conn.fetchval(sql)) == n

        await publish(broker.bootstrap, *claims)
        await eventually(lambda: has("SELECT count(*) FROM claims_view", len(claims)), timeout=60)
        # The burst first, the stops after it on the topics.
        await publish(broker.bootstrap, *(a_reminder_due(c) for c in claims))
        await publish(broker.bootstrap, *(paid(c) for c in stopped))
        settled = "SELECT count(*) FROM deliveries WHERE status IN ('sent', 'dropped')"
        await eventually(lambda: has(settled, len(claims)), timeout=120)
        # Every stop is recorded, though not necessarily before the last sends: a reminder whose
        # send began before its claim's ClaimPaid was even published rightly went out.
        paid_states = "SELECT count(*) FROM claim_states WHERE status = 'paid'"
        await eventually(lambda: has(paid_states, len(stopped)), timeout=60)
        # A stop is recorded when the lane's transaction commits (it writes a whole fetched batch in
        # one): a fence that ran between the stop's stamp and that commit could not see it.
        async with db.connection() as conn:
            late = await conn.fetch(
                "SELECT d.id FROM deliveries d JOIN claim_states s ON s.claim_id = d.claim_ids[1]"
                " WHERE s.status = 'paid' AND d.dispatch_started_at > pg_xact_commit_timestamp(s.stopped_xid::xid)"
            )
    assert late == [], f"{len(late)} sends started after their claim's stop was recorded"


async def test_a_payment_holds_its_claims_messages_until_claims_api_has_booked_it(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    part, whole = a_claim_created(invoice_no="PART"), a_claim_created(invoice_no="WHOLE", debtor_id=uuid.uuid4())
    part_payment = a_payment_received(part, amount_minor=4_000)
    whole_payment = a_payment_received(whole)
    app = create_app(world.settings(database_url, broker))
    async with serving(app), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as notifications:
        db = app.state.runtime.db
        await publish(broker.bootstrap, part, whole, part_payment, whole_payment)

        async def held() -> bool:
            async with db.connection() as conn:
                return int(await conn.fetchval("SELECT count(*) FROM payment_holds WHERE booked_at IS NULL")) == 2

        await eventually(held, timeout=60)
        await publish(broker.bootstrap, a_reminder_due(part), a_reminder_due(whole))

        async def waiting() -> bool:
            async with db.connection() as conn:
                reasons = await conn.fetch("SELECT last_error FROM deliveries")
            return [r["last_error"] for r in reasons] == ["payment being booked"] * 2

        await eventually(waiting, timeout=60)
        await asyncio.sleep(1.0)
        assert notifications.of_type(ReminderSent) == []
        # claims-api books both: the part payment leaves a balance, the whole one settles.
        await publish(
            broker.bootstrap,
            booked(part, part_payment.payment_id, 6_390),
            paid(whole),
            booked(whole, whole_payment.payment_id, 0),
        )
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 1, timeout=60)
        [sent] = notifications.of_type(ReminderSent)
        assert sent.claim_ids == (part.claim_id,) and sent.dispatched_at is not None

        async def whole_dropped() -> bool:
            async with db.connection() as conn:
                return (
                    await conn.fetchval("SELECT status FROM deliveries WHERE $1 = ANY(claim_ids)", whole.claim_id)
                    == "dropped"
                )

        await eventually(whole_dropped, timeout=60)
    assert len(world.smtp.messages()) == 1


class Lagging:
    def __init__(self) -> None:
        self.caught_up = False

    def current(self, within_s: float) -> bool:
        return self.caught_up


async def test_nothing_is_sent_while_the_stops_lane_is_behind(database_url: str) -> None:
    lane = Lagging()
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.stops = lane
    waiting = asyncio.create_task(dispatcher._stops_current())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    lane.caught_up = True
    await asyncio.wait_for(waiting, 2)
