"""Late interest booked into the claim's ledger: the scheduler, over the real PostgreSQL and
broker, emits FeeCharged(kind=late_interest) with each step for what accrued since the last
one — never twice for one step, whether the step is swept again or replayed — and its pipelined
sweep plans each batch with the contacts of the batch still committing before it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from krafa_events import Channel, Topic
from krafa_events.catalog import FeeCharged, ReminderDue
from krafa_events.testing import a_balance_changed, a_claim_created, a_payment_line
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_scheduler import domain, repository, service
from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings

from .conftest import Engine

pytestmark = pytest.mark.integration

CURSOR = ["step", "next_action_at", "last_fired_at", "watch_round", "fees", "free_reminders", "shift_s",
          "interest_booked_minor", "notice_step", "notice_due_at", "notice_sent_at", "notice_pay_by"]  # fmt: skip


async def test_late_interest_is_booked_with_each_step_once(database_url: str, broker: EmbeddedBroker) -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = create_app(Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap), clock)
    # 100,000 kr. due 2 March, eindagi 12 March: dráttarvextir at 15.0 % from the 13th (the March 2026 row).
    claim = a_claim_created(amount_minor=100_000, due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    async with serving(app), TopicReader(broker.bootstrap, Topic.DUNNING) as dunning:
        db = app.state.runtime.db

        def booked() -> list[FeeCharged]:
            return [e for e in dunning.of_type(FeeCharged) if e.kind == domain.LATE_INTEREST]

        async def timeline() -> dict[str, Any]:
            async with db.connection() as conn:
                return dict(await repository.get_timeline(conn, claim.claim_id) or {})

        await publish(broker.bootstrap, claim)
        await eventually(timeline, timeout=60)

        # 50,000 is paid on 15 March. claims-api's ledger takes the slip fee (390) first, the rest
        # off the principal: from that day interest runs on 50,390 — what the ledger says, not
        # 50,000 worked out here.
        payment = a_balance_changed(claim, a_payment_line(50_000, date(2026, 3, 15), fees=390, principal=49_610))
        await publish(broker.bootstrap, payment)
        await eventually(lambda: timeline_has_payment(timeline), timeout=60)
        before = {c: (await timeline())[c] for c in CURSOR}

        # Nothing before the collection warning (day 20, Sunday 22 March → Monday 23 March): it
        # books what accrued since the eindagi, (100,000 x 2 + 50,390 x 9 days) x 15.0 % / 365 = 269.
        clock.set(datetime(2026, 3, 23, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(booked()) == 1, timeout=60)
        second = booked()[0]
        assert (second.claim_id, second.step, second.amount_minor, second.currency) == (claim.claim_id, 1, 269, "ISK")
        assert second.fee_id == uuid.uuid5(domain.FEE_NAMESPACE, f"{claim.claim_id}:late_interest:1")
        assert (second.creditor_id, second.debtor_id) == (claim.creditor_id, claim.debtor_id)
        assert second.charged_at == clock.now()
        warning = [r for r in dunning.of_type(ReminderDue) if r.step == 1]
        assert [r.interest_minor for r in warning] == [269]
        # With the rate and the days it covers, for the message that states it.
        assert (second.rate_pct, second.interest_from, second.interest_to) == (
            Decimal("15.0"),
            date(2026, 3, 13),
            date(2026, 3, 23),
        )
        # The warning names the interest and fee bookings it announces, and the rate in force.
        assert second.fee_id in warning[0].fee_ids and len(warning[0].fee_ids) == 2
        assert warning[0].interest_rate_pct == "15.00" and warning[0].notice_kind == "innheimtuvidvorun"
        assert (await timeline())["interest_booked_minor"] == 269

        # Replayed: the step fires again from the state it fired from (a restored row, as after a
        # failover to a copy that missed the commit). The same booking — same id, same amount —
        # which claims-api's ledger takes once; nothing more is booked on the timeline.
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE timelines SET " + ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(CURSOR))
                + " WHERE claim_id = $1",
                claim.claim_id, *before.values(),
            )  # fmt: skip
        await eventually(lambda: len(booked()) == 2, timeout=60)
        replay = booked()[1]
        assert (replay.fee_id, replay.amount_minor, replay.step) == (second.fee_id, second.amount_minor, 1)
        assert (await timeline())["interest_booked_minor"] == 269

        # Swept again on the same day (nothing new accrued): the next step is weeks away and no
        # booking appears; the claim's bookings add up to the accrual, by distinct ids.
        clock.advance(timedelta(hours=2))
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE timelines SET next_action_at = $2 WHERE claim_id = $1", claim.claim_id, clock.now()
            )
        await eventually(lambda: timeline_moved(timeline, clock.now()), timeout=60)
        assert len(booked()) == 2
        assert sum(f.amount_minor for f in {f.fee_id: f for f in booked()}.values()) == 269


async def timeline_has_payment(timeline: Any) -> bool:
    return bool((await timeline())["payments"])


async def timeline_moved(timeline: Any, now: datetime) -> bool:
    row = await timeline()
    return bool(row["next_action_at"] > now)


class TickingClock(ManualClock):
    """A clock that moves a second each time it is read: each batch of a sweep sees a later now."""

    def now(self) -> datetime:
        moment = super().now()
        self.advance(timedelta(seconds=1))
        return moment


async def test_a_pipelined_batch_plans_with_the_contacts_of_the_batch_before_it(engine: Engine) -> None:
    """Two claims of one debtor, one reminder each (per-claim policy), a budget of one contact in
    three days. The second falls due half a second after the first, so two batches in flight
    take one each: the second must see the first's contact (committed or not) and wait."""
    first = a_claim_created(invoice_no="A", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    second = a_claim_created(
        invoice_no="B", creditor_id=first.creditor_id, debtor_id=first.debtor_id, debtor=first.debtor,
        due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12),
    )  # fmt: skip
    async with engine.db.uow() as uow:
        await repository.insert_policy(
            uow.conn, first.creditor_id, "", "",
            {"key": "one-each", "jurisdiction": "IS", "aggregation": "claim",
             "contact_budget": [{"max": 1, "days": 3}],
             "steps": [{"name": "nudge", "when": {"after": "due_date", "days": 1}, "channels": ["email"]}]},
        )  # fmt: skip
        await uow.commit()
    await engine.deliver(first, second)
    due = datetime(2026, 3, 3, 9, tzinfo=UTC)
    async with engine.db.connection() as conn:
        await conn.execute(
            "UPDATE timelines SET next_action_at = $2 WHERE claim_id = $1",
            second.claim_id,
            due + timedelta(seconds=0.5),
        )
        # A contact of an earlier day already in the log, so the contact merge has both sources.
        await conn.execute(
            "INSERT INTO contacts (creditor_id, debtor_id, channel, at, reminder_id) VALUES ($1, $2, 'email', $3, $4)",
            first.creditor_id, first.debtor_id, due - timedelta(days=10), uuid.uuid4(),
        )  # fmt: skip
    clock = TickingClock(due)
    assert await service.sweep_due(engine.db, clock, 1) == 2
    reminders = [e for e in await engine.emitted() if isinstance(e, ReminderDue)]
    assert [(r.claim_ids, r.channels, r.due_at) for r in reminders] == [((first.claim_id,), (Channel.EMAIL,), due)]
    later = (await engine.timeline(second.claim_id))["next_action_at"]
    assert later >= due + timedelta(days=3)
    # What a batch still writing hands the next one is merged once by reminder id.
    async with engine.db.connection() as conn:
        rid = reminders[0].reminder_id
        pair = (first.creditor_id, first.debtor_id)
        handoff = service.Handoff(
            {pair: {rid: domain.Contact(Channel.EMAIL, due), uuid.uuid4(): domain.Contact(Channel.SMS, due)}},
            asyncio.get_running_loop().create_future(),
        )
        merged = (await service.contacts_of(conn, {pair}, due + timedelta(seconds=5), handoff))[pair]
    assert sorted(c.channel.value for c in merged) == ["email", "email", "sms"]
