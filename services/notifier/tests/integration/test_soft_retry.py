"""Soft bounces over the real PostgreSQL, broker, SMTP server and print provider: the same email
is sent again after the delay (on the service's clock), at most KRAFA_SOFT_RETRY_MAX times, then
the bounce counts as hard; a hard bounce cancels a scheduled re-send. Never twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from krafa_events import EmailBounced, ReminderSent, Topic
from krafa_events.testing import a_claim_created, a_reminder_due
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier.app import create_app
from prometheus_client import REGISTRY

from .conftest import World

pytestmark = pytest.mark.integration

DELAY = timedelta(hours=1)


def _bounce(sent: ReminderSent, kind: Literal["hard", "soft"], at: datetime) -> EmailBounced:
    return EmailBounced(
        creditor_id=sent.creditor_id,
        debtor_id=sent.debtor_id,
        bounce_id=uuid.uuid4(),
        delivery_id=sent.delivery_id,
        reminder_id=sent.reminder_id,
        claim_ids=sent.claim_ids,
        step=sent.step,
        recipient=sent.recipient,
        kind=kind,
        status="4.2.2" if kind == "soft" else "5.1.1",
        reason="mailbox full" if kind == "soft" else "user unknown",
        bounced_at=at,
    )


def _retries(outcome: str) -> float:
    return REGISTRY.get_sample_value("krafa_soft_retries_total", {"outcome": outcome}) or 0.0


def _letters_observed() -> float:
    return REGISTRY.get_sample_value("krafa_bounce_to_letter_seconds_count") or 0.0


async def test_soft_bounces_resend_the_same_email_until_exhausted_then_one_letter(
    database_url: str, broker: EmbeddedBroker, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAFA_SOFT_RETRY_DELAY_S", str(DELAY.total_seconds()))
    monkeypatch.setenv("KRAFA_SOFT_RETRY_MAX", "2")
    monkeypatch.setenv("KRAFA_SOFT_RETRY_WINDOW_H", "72")
    # Longer than the test: the sweep sleeps until a timer is due and wakes on the bounces.
    monkeypatch.setenv("KRAFA_SOFT_RETRY_SWEEP_INTERVAL_S", "600")
    clock = ManualClock(datetime(2026, 3, 3, 9, tzinfo=UTC))
    claim = a_claim_created()
    other = a_claim_created()  # another creditor: its suppression list is its own
    app = create_app(world.settings(database_url, broker), clock)
    letters_before = _letters_observed()
    async with serving(app), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as notifications:
        db = app.state.runtime.db

        def sent_for(reminder_id: uuid.UUID) -> list[ReminderSent]:
            return [e for e in notifications.of_type(ReminderSent) if e.reminder_id == reminder_id]

        async def retries(delivery_id: uuid.UUID) -> list[tuple[int, str]]:
            async with db.connection() as conn:
                rows = await conn.fetch(
                    "SELECT attempt, status FROM soft_retries WHERE delivery_id = $1 ORDER BY attempt", delivery_id
                )
            return [(r["attempt"], r["status"]) for r in rows]

        async def scheduled(delivery_id: uuid.UUID) -> bool:
            return any(status == "scheduled" for _, status in await retries(delivery_id))

        reminder = a_reminder_due(claim)
        await publish(broker.bootstrap, claim, other, reminder)
        await eventually(lambda: len(sent_for(reminder.reminder_id)) == 1, timeout=60)
        first = sent_for(reminder.reminder_id)[0]

        # Soft bounce 1, delivered twice (an outbox replay): one re-send scheduled, not yet due.
        soft = _bounce(first, "soft", clock.now())
        await publish(broker.bootstrap, soft, soft)
        await eventually(lambda: retries(first.delivery_id), timeout=60)
        assert await retries(first.delivery_id) == [(1, "scheduled")]
        assert len(world.smtp.messages()) == 1
        clock.advance(DELAY - timedelta(seconds=1))
        # A second soft bounce of the same send while the re-send waits adds nothing.
        covered = _retries("covered")
        await publish(broker.bootstrap, _bounce(first, "soft", clock.now()))
        await eventually(lambda: _retries("covered") == covered + 1, timeout=60)
        assert await retries(first.delivery_id) == [(1, "scheduled")]
        clock.advance(timedelta(seconds=2))
        await eventually(lambda: len(sent_for(reminder.reminder_id)) == 2, timeout=60)
        assert await retries(first.delivery_id) == [(1, "fired")]

        # Soft bounce 2: the second and last re-send.
        await publish(broker.bootstrap, _bounce(first, "soft", clock.now()))
        await eventually(lambda: scheduled(first.delivery_id), timeout=60)
        clock.advance(DELAY + timedelta(seconds=1))
        await eventually(lambda: len(sent_for(reminder.reminder_id)) == 3, timeout=60)
        assert await retries(first.delivery_id) == [(1, "fired"), (2, "fired")]

        # Soft bounce 3: re-sends exhausted, so hard: exactly one letter, the address suppressed.
        await publish(broker.bootstrap, _bounce(first, "soft", clock.now()))
        await eventually(lambda: len(sent_for(reminder.reminder_id)) == 4, timeout=60)
        emails, letter = sent_for(reminder.reminder_id)[:3], sent_for(reminder.reminder_id)[3]
        assert {e.delivery_id for e in emails} == {first.delivery_id}
        assert {e.message_id for e in emails} == {first.message_id}
        assert letter.channel.value == "letter" and letter.fallback_for == first.delivery_id
        async with db.connection() as conn:
            assert (
                await conn.fetchval("SELECT reason FROM suppressions WHERE creditor_id = $1", claim.creditor_id)
                == "hard bounce 4.2.2"
            )
        assert _letters_observed() == letters_before + 1

        # Another reminder: soft bounce, then a hard one before the re-send is due. The hard one
        # cancels the re-send: one letter, and the timer firing later sends nothing.
        second = a_reminder_due(other)
        await publish(broker.bootstrap, second)
        await eventually(lambda: len(sent_for(second.reminder_id)) == 1, timeout=60)
        sent = sent_for(second.reminder_id)[0]
        await publish(broker.bootstrap, _bounce(sent, "soft", clock.now()))
        await eventually(lambda: scheduled(sent.delivery_id), timeout=60)
        await publish(broker.bootstrap, _bounce(sent, "hard", clock.now()))
        await eventually(lambda: len(sent_for(second.reminder_id)) == 2, timeout=60)
        assert await retries(sent.delivery_id) == [(1, "cancelled")]
        clock.advance(DELAY * 2)
        # The next reminder of that debtor goes on paper; by then any wrongly fired re-send
        # would have been dispatched before it (the sweeper and dispatcher run in order).
        third = a_reminder_due(other, step=2, tone="firm")
        await publish(broker.bootstrap, third)
        await eventually(lambda: len(sent_for(third.reminder_id)) == 1, timeout=60)
        assert sent_for(third.reminder_id)[0].channel.value == "letter"
        assert len(sent_for(second.reminder_id)) == 2
    assert len(world.smtp.messages()) == 4  # three sends of the first reminder, one of the second
    assert len(world.letters()) == 3
