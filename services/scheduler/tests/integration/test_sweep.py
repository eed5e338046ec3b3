"""The scheduler over the real PostgreSQL and broker, driven by a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from krafa_events import ClaimPaid, DueDatePassed, ReminderDue, Topic
from krafa_events.testing import a_claim_created
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings

pytestmark = pytest.mark.integration


async def test_due_steps_fire_once_and_stop_when_paid(database_url: str, broker: EmbeddedBroker) -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = create_app(Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap), clock)
    paid_claim = a_claim_created(invoice_no="PAID")
    open_claim = a_claim_created(invoice_no="OPEN")
    async with serving(app), TopicReader(broker.bootstrap, Topic.DUNNING) as dunning:
        db = app.state.runtime.db
        # Published twice: the second copy is a redelivery and must plan nothing new.
        await publish(broker.bootstrap, paid_claim, open_claim)
        await publish(broker.bootstrap, paid_claim)

        async def planned() -> bool:
            async with db.connection() as conn:
                return bool(await conn.fetchval("SELECT count(*) = 2 FROM timelines"))

        await eventually(planned)
        clock.set(datetime(2026, 3, 3, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(ReminderDue)) == 2)
        assert len(dunning.of_type(DueDatePassed)) == 2
        assert {e.step for e in dunning.of_type(ReminderDue)} == {1}

        await publish(
            broker.bootstrap,
            ClaimPaid(
                creditor_id=paid_claim.creditor_id,
                debtor_id=paid_claim.debtor_id,
                claim_id=paid_claim.claim_id,
                amount_paid_minor=10_390,
                currency="ISK",
                paid_at=clock.now(),
            ),
        )

        async def stopped() -> bool:
            async with db.connection() as conn:
                return (
                    await conn.fetchval("SELECT status FROM timelines WHERE claim_id = $1", paid_claim.claim_id)
                    == "stopped"
                )

        await eventually(stopped)
        clock.advance(timedelta(days=30))
        await eventually(lambda: len(dunning.of_type(ReminderDue)) == 3)
        second = [e for e in dunning.of_type(ReminderDue) if e.step == 2]
        assert [e.claim_ids for e in second] == [(open_claim.claim_id,)]
        assert second[0].tone == "firm"
