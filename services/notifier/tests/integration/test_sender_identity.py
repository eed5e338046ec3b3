"""A creditor's sender identity (CreditorUpdated) over the real PostgreSQL, broker, SMTP server
and provider: every later message of its claims — those registered before the change too — is
sent in its name, from its address with its Reply-To, with its SMS sender id, and its letters
are headed with its sending name while still naming the creditor as registered. An older update
arriving late changes nothing."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.utils import parseaddr

import asyncpg
import pytest
from krafa_events import Channel, ReminderSent, Topic
from krafa_events.testing import a_creditor_updated, a_reminder_due
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier.app import create_app

from .test_channels import Providers, claim_for, providers, settings

pytestmark = pytest.mark.integration
__all__ = ["providers"]  # the fixture, shared with the channels' test


async def test_a_creditors_new_sender_identity_names_every_later_message(
    database_url: str, broker: EmbeddedBroker, providers: Providers
) -> None:
    port = free_port()
    app = create_app(
        settings(database_url, broker, providers, port),
        clock=ManualClock(datetime(2026, 3, 3, 11, tzinfo=UTC)),  # a Tuesday morning: texting hours
    )
    by_email = claim_for("is", "ISK", 10_000, 0, email="anna@example.is", phone=None)
    by_sms = claim_for("en", "ISK", 12_000, 0, email=None, phone="+354 661 2345")
    by_letter = claim_for("is", "ISK", 20_000, 0, email=None, phone=None)
    creditor_id = by_email.creditor_id
    registered = by_email.creditor.model_copy(update={"name": "Ungmennafélagið Fram"})
    by_email, by_sms, by_letter = (
        c.model_copy(update={"creditor_id": creditor_id, "creditor": registered}) for c in (by_email, by_sms, by_letter)
    )
    changed = a_creditor_updated(creditor_id=creditor_id)  # sends as "Fram – innheimta"
    older = changed.model_copy(
        update={
            "creditor": changed.creditor.model_copy(update={"sender_name": "Gamla nafnið", "sms_sender_id": "OLD"}),
            "updated_at": changed.updated_at - timedelta(days=1),
        }
    )
    async with serving(app, port=port), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as topic:
        # The claims were registered with the old snapshot (no sending name, no Reply-To).
        await publish(broker.bootstrap, by_email, by_sms, by_letter, changed, older)

        async def recorded() -> bool:
            conn = await asyncpg.connect(database_url, server_settings={"search_path": "notifier"})
            try:
                sender = await conn.fetchval(
                    "SELECT sender::text FROM creditor_senders WHERE creditor_id = $1", creditor_id
                )
            finally:
                await conn.close()
            return sender is not None and json.loads(sender)["sms_sender_id"] == "FRAM"

        await eventually(recorded, timeout=30)
        sms_first = (Channel.SMS, Channel.EMAIL, Channel.LETTER)
        await publish(
            broker.bootstrap,
            a_reminder_due(by_email),
            a_reminder_due(by_sms, channels=sms_first),
            a_reminder_due(by_letter),
        )
        await eventually(lambda: len(topic.of_type(ReminderSent)) == 3, timeout=90)
        letter = next(e for e in topic.of_type(ReminderSent) if e.channel == Channel.LETTER)

    [mail] = providers.smtp.messages()
    message = email.message_from_bytes(mail.raw())
    name, address = parseaddr(str(make_header(decode_header(message["From"]))))
    assert (name, address) == ("Fram – innheimta", "innheimta@fram.is")
    assert message["Reply-To"] == "gjaldkeri@fram.is"
    [text] = providers.sms()
    assert text["request"]["from"] == "FRAM"
    pdf = providers.pdf_text("print", str(letter.delivery_id))
    assert "Fram – innheimta" in pdf  # the header: the sending name
    assert "Ungmennafélagið Fram" in pdf  # and the creditor as registered
