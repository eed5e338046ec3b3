"""A sandbox creditor's reminders over the real PostgreSQL, broker, SMTP server and provider sink
(docs/adr/0015): rendered and recorded like any send, under the `sandbox` provider, reported sent
at the step's own (sandbox) instant, and never handed to the SMTP server, the SMS provider or the
print house — while a live creditor's reminder in the same run is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from krafa_events import Channel, ReminderDue, ReminderSent, Topic
from krafa_events.testing import a_reminder_due
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier.app import create_app

from .test_channels import Providers, claim_for, providers, settings

pytestmark = pytest.mark.integration
__all__ = ["providers"]  # the fixture, shared with the channels' test

NOW = datetime(2026, 3, 3, 11, tzinfo=UTC)  # a Tuesday morning: texting hours


async def test_a_sandbox_reminder_reaches_no_provider_and_is_sent_at_its_own_instant(
    database_url: str, broker: EmbeddedBroker, providers: Providers
) -> None:
    port = free_port()
    app = create_app(settings(database_url, broker, providers, port), clock=ManualClock(NOW))
    live = claim_for("is", "ISK", 10_000, 0, email="anna@example.is", phone=None)
    by_email = claim_for("is", "ISK", 10_000, 0, email="jon@example.is", phone=None)
    by_sms = claim_for("en", "ISK", 12_000, 0, email=None, phone="+354 661 2345")
    by_letter = claim_for("is", "ISK", 20_000, 0, email=None, phone=None)
    sandbox = by_email.creditor.model_copy(update={"name": "Fram (sandbox)", "sandbox": True})
    trials = [
        c.model_copy(update={"creditor_id": by_email.creditor_id, "creditor": sandbox})
        for c in (by_email, by_sms, by_letter)
    ]
    # The sandbox is 40 days ahead: its steps fall due in what is the service's future.
    ahead = NOW + timedelta(days=40)
    dues = [
        a_reminder_due(trials[0], due_at=ahead),
        a_reminder_due(trials[1], due_at=ahead, channels=(Channel.SMS, Channel.EMAIL, Channel.LETTER)),
        a_reminder_due(trials[2], due_at=ahead + timedelta(hours=1)),
    ]
    calls = [a_reminder_due(c, due_at=ahead, step=5, channels=(Channel.CALL,)) for c in (live, trials[0])]
    # After the sandbox's call, an email of the same debtor (the same partition, so handled after
    # it): once that is reported sent, the call has been dealt with.
    after = a_reminder_due(trials[0], due_at=ahead + timedelta(hours=2), step=6)

    async def call_tasks() -> list[object]:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "notifier"})
        try:
            return [r["creditor_id"] for r in await conn.fetch("SELECT creditor_id FROM call_tasks")]
        finally:
            await conn.close()

    def reported(*reminders: ReminderDue) -> bool:
        return {r.reminder_id for r in reminders} <= {s.reminder_id for s in topic.of_type(ReminderSent)}

    async with serving(app, port=port), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as topic:
        await publish(broker.bootstrap, live, *trials)
        await publish(broker.bootstrap, a_reminder_due(live, due_at=NOW), *dues)
        await eventually(lambda: reported(*dues), timeout=90)
        # A call step: the live debtor's is queued for the agents, the sandbox's never.
        await publish(broker.bootstrap, *calls, after)
        await eventually(lambda: reported(after), timeout=60)
        assert await eventually(call_tasks, timeout=30) == [live.creditor_id]
        sent = topic.of_type(ReminderSent)

    by_reminder = {s.reminder_id: s for s in sent}
    for due in dues:
        report = by_reminder[due.reminder_id]
        assert report.sent_at == due.due_at  # in sandbox time: the next step's gap counts from it
    assert {by_reminder[d.reminder_id].channel for d in dues} == {Channel.EMAIL, Channel.SMS, Channel.LETTER}
    # Only the live reminder reached a provider.
    assert [m.rcpt_tos for m in providers.smtp.messages()] == [["anna@example.is"]]
    assert providers.sms() == []
    assert not (providers.spool / "print").exists() or not any((providers.spool / "print").iterdir())
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "notifier"})
    try:
        rows = await conn.fetch(
            "SELECT provider, content IS NOT NULL AS rendered FROM deliveries WHERE creditor_id = $1",
            by_email.creditor_id,
        )
    finally:
        await conn.close()
    assert len(rows) == 4 and all(r["provider"] == "sandbox" and r["rendered"] for r in rows)
