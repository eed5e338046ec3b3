"""The notifier over the real PostgreSQL, broker, SMTP server and print provider."""

from __future__ import annotations

import email
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from krafa_events import ClaimPaid, EmailBounced, ReminderSent, Topic
from krafa_events import return_path as verp
from krafa_events.catalog import DebtorSnapshot
from krafa_events.testing import a_claim_created, a_reminder_due
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier.app import create_app
from pypdf import PdfReader

from .conftest import SECRET, World

pytestmark = pytest.mark.integration


async def test_reminder_email_reaches_the_smtp_server_with_a_verp_return_path(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    claim = a_claim_created()
    reminder = a_reminder_due(claim)
    app = create_app(world.settings(database_url, broker))
    async with serving(app), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as notifications:
        await publish(broker.bootstrap, claim, reminder)
        await publish(broker.bootstrap, reminder)  # redelivered: must not send twice
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 1)
        await eventually(lambda: len(world.smtp.messages()) == 1)
        [caught] = world.smtp.messages()
        assert caught.rcpt_tos == ["jon@example.is"]
        sent = notifications.of_type(ReminderSent)[0]
        assert verp.decode(caught.mail_from, SECRET.encode()) == sent.delivery_id
        message = email.message_from_bytes(caught.raw())
        assert message["Message-ID"] == sent.message_id
        text, html = (
            part.get_payload(decode=True).decode()  # type: ignore[union-attr]
            for part in message.walk()
            if not part.is_multipart()
        )
        assert "10.390" in text and claim.reference in text  # amount with the slip fee, Icelandic format
        assert claim.reference in html
    assert len(world.smtp.messages()) == 1


async def test_debtor_without_email_gets_a_letter(database_url: str, broker: EmbeddedBroker, world: World) -> None:
    debtor = a_claim_created().debtor.model_copy(update={"email": None})
    claim = a_claim_created(debtor=debtor)
    app = create_app(world.settings(database_url, broker))
    async with serving(app), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as notifications:
        await publish(broker.bootstrap, claim, a_reminder_due(claim))
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 1)
        assert notifications.of_type(ReminderSent)[0].channel.value == "letter"
        [pdf] = world.letters()
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
        assert "Jón Jónsson" in text and "Laugavegur 1" in text and claim.reference in text


async def test_claim_paid_while_its_reminder_is_queued_gets_no_reminder(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    claim = a_claim_created()
    app = create_app(world.settings(database_url, broker))
    async with serving(app):
        db = app.state.runtime.db
        paid = ClaimPaid(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            claim_id=claim.claim_id,
            amount_paid_minor=10_390,
            currency="ISK",
            paid_at=datetime.now(UTC),
        )
        await publish(broker.bootstrap, claim, paid, a_reminder_due(claim))

        async def dropped() -> bool:
            async with db.connection() as conn:
                return bool(await conn.fetchval("SELECT status FROM deliveries") == "dropped")

        await eventually(dropped)
    assert world.smtp.messages() == []


async def test_hard_bounce_sends_exactly_one_letter_and_suppresses_the_address(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    claim = a_claim_created()
    reminder = a_reminder_due(claim)
    app = create_app(world.settings(database_url, broker))
    async with serving(app), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as notifications:
        await publish(broker.bootstrap, claim, reminder)
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 1)
        first = notifications.of_type(ReminderSent)[0]
        bounce = EmailBounced(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            bounce_id=uuid.uuid4(),
            delivery_id=first.delivery_id,
            reminder_id=first.reminder_id,
            claim_ids=first.claim_ids,
            step=1,
            recipient="jon@example.is",
            kind="hard",
            status="5.1.1",
            reason="user unknown",
            bounced_at=datetime.now(UTC),
        )
        second_bounce = bounce.model_copy(update={"bounce_id": uuid.uuid4()})
        await publish(broker.bootstrap, bounce, second_bounce)
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 2)
        letter = notifications.of_type(ReminderSent)[1]
        assert letter.channel.value == "letter" and letter.fallback_for == first.delivery_id
        # The next reminder for this debtor skips the bounced address.
        await publish(broker.bootstrap, a_reminder_due(claim, step=2, tone="firm"))
        await eventually(lambda: len(notifications.of_type(ReminderSent)) == 3)
        assert notifications.of_type(ReminderSent)[2].channel.value == "letter"
    assert len(world.letters()) == 2
    assert len(world.smtp.messages()) == 1


def test_debtor_snapshot_without_address_is_valid() -> None:
    assert DebtorSnapshot(customer_no="1", name="x", country="IS").address is None


async def test_the_reminder_sent_continues_the_trace_of_the_reminder_due(
    database_url: str, broker: EmbeddedBroker, world: World
) -> None:
    # The dispatcher sends after the handler has committed: the delivery row carries the trace.
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    claim = a_claim_created()
    app = create_app(world.settings(database_url, broker))
    async with serving(app):
        await publish(broker.bootstrap, claim)
        await publish(broker.bootstrap, a_reminder_due(claim), traceparent=f"00-{trace}-00f067aa0ba902b7-01")
        db = app.state.runtime.db

        async def sent_traces() -> list[str]:
            async with db.connection() as conn:
                rows = await conn.fetch("SELECT headers FROM outbox WHERE event_type = $1", ReminderSent.TYPE)
            return [dict(json.loads(row["headers"]))["traceparent"] for row in rows]

        await eventually(sent_traces, timeout=60)
        [traceparent] = await sent_traces()
        assert traceparent.split("-")[1] == trace
