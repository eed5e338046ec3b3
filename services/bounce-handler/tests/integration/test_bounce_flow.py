"""The bounce-handler over the real PostgreSQL and broker: ReminderSent in from
`krafa.notifications`, DSNs in over SMTP, EmailBounced out on `krafa.bounces`.

A 250 is answered only after the commit, and EmailBounced reaches the broker only through the
outbox of that same transaction, so "nothing emitted" is checked on the outbox right after the
250: no row then means no event ever."""

from __future__ import annotations

import uuid

import aiosmtplib
import httpx
import pytest
from krafa_events import EmailBounced, Topic
from krafa_events import return_path as verp
from krafa_events.testing import a_reminder_sent
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish

from .conftest import DOMAIN, OPERATOR, BounceHandler, a_dsn, an_out_of_office_reply

pytestmark = pytest.mark.integration

RECIPIENT = "Jon@Example.is"  # the DSN names it in lower case: matched case-insensitively


def bounced(reader: TopicReader) -> list[EmailBounced]:
    return [e for e in reader.events if isinstance(e, EmailBounced)]


async def test_dsn_for_a_known_delivery_emits_one_hard_bounce_even_when_received_twice(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    delivery_id = uuid.uuid4()
    return_path = bounce_handler.return_path(delivery_id)
    sent = a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT, return_path=return_path, step=2)
    async with TopicReader(broker.bootstrap, Topic.BOUNCES) as reader:
        await publish(broker.bootstrap, sent)
        await eventually(lambda: bounce_handler.delivery_known(delivery_id))

        dsn = a_dsn(RECIPIENT.lower(), return_path)
        assert await bounce_handler.send(dsn, return_path) == 250
        await eventually(lambda: len(bounced(reader)) == 1)
        [event] = bounced(reader)
        assert (event.kind, event.status, event.source) == ("hard", "5.1.1", "dsn")
        assert (event.delivery_id, event.reminder_id, event.claim_ids) == (
            delivery_id,
            sent.reminder_id,
            sent.claim_ids,
        )
        assert (event.creditor_id, event.debtor_id, event.step) == (sent.creditor_id, sent.debtor_id, 2)
        assert event.recipient == RECIPIENT  # the address the creditor holds, as sent
        assert "User unknown" in event.reason

        # The MTA's retry (its 250 got lost) changes nothing.
        assert await bounce_handler.send(dsn, return_path) == 250
        assert await bounce_handler.bounced_in_outbox() == 1
        assert [b["state"] for b in await bounce_handler.bounces(delivery_id)] == ["emitted", "duplicate"]
        inbound = await bounce_handler.inbound(delivery_id)
        assert [m["verdict"] for m in inbound] == ["bounce", "bounce"]
        assert inbound[0]["mail_from"] == ""  # the null reverse path
        assert bytes(inbound[0]["raw"]).replace(b"\r\n", b"\n") == dsn.replace(b"\r\n", b"\n")
        # Once every outbox row is on the broker and the reader has read to the end of the topic,
        # the topic holds the one event.
        await eventually(lambda: _published(bounce_handler))
        end = await reader.consumer.end_offsets(list(reader.consumer.assignment()))
        await eventually(lambda: len(reader.raw) == sum(end.values()))
        assert len(bounced(reader)) == 1

    async with httpx.AsyncClient(base_url=bounce_handler.base_url) as client:
        ready = (await client.get("/readyz")).json()
        assert ready["checks"]["smtp"] is True
        listed = (await client.get("/v1/bounces", params={"delivery_id": str(delivery_id)}, headers=OPERATOR)).json()
        assert [(b["state"], b["kind"], b["status"]) for b in listed["items"]] == [
            ("duplicate", "hard", "5.1.1"),
            ("emitted", "hard", "5.1.1"),
        ]
        assert listed["items"][1]["event_id"] is not None
        assert listed["next_cursor"] is None
        # Each names the delivery's creditor, debtor and claims, and filters by creditor and kind.
        assert {(b["creditor_id"], b["debtor_id"]) for b in listed["items"]} == {
            (str(sent.creditor_id), str(sent.debtor_id))
        }
        assert listed["items"][1]["claim_ids"] == [str(c) for c in sent.claim_ids]
        theirs = {"creditor_id": str(sent.creditor_id), "kind": "hard"}
        mine = (await client.get("/v1/bounces", params=theirs, headers=OPERATOR)).json()["items"]
        assert [b["id"] for b in mine] == [b["id"] for b in listed["items"]]
        for params in ({"creditor_id": str(uuid.uuid4())}, {"creditor_id": str(sent.creditor_id), "kind": "soft"}):
            assert (await client.get("/v1/bounces", params=params, headers=OPERATOR)).json()["items"] == []
        first_page = (await client.get("/v1/bounces", params={"limit": 1}, headers=OPERATOR)).json()
        second_page = (
            await client.get("/v1/bounces", params={"limit": 1, "cursor": first_page["next_cursor"]}, headers=OPERATOR)
        ).json()
        assert [b["id"] for b in first_page["items"] + second_page["items"]] == [b["id"] for b in listed["items"]]


async def test_forged_return_path_marks_no_address(bounce_handler: BounceHandler, broker: EmbeddedBroker) -> None:
    delivery_id = uuid.uuid4()
    return_path = bounce_handler.return_path(delivery_id)
    await publish(broker.bootstrap, a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT))
    await eventually(lambda: bounce_handler.delivery_known(delivery_id))

    local, _, domain = return_path.partition("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    signed_elsewhere = verp.encode(delivery_id, DOMAIN, b"someone else's secret")
    for forged in (tampered, signed_elsewhere, f"postmaster@{DOMAIN}"):
        assert await bounce_handler.send(a_dsn(RECIPIENT, forged), forged) == 250

    assert await bounce_handler.bounced_in_outbox() == 0
    assert await bounce_handler.bounces(delivery_id) == []
    recorded = await bounce_handler.inbound()
    assert [(m["verdict"], m["delivery_id"]) for m in recorded] == [("bad_signature", None)] * 3
    # Mail for any other domain is refused at RCPT.
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
        await bounce_handler.send(a_dsn(RECIPIENT, return_path), "bounce@elsewhere.example")
    assert refused.value.code == 550


async def test_dsn_that_beats_its_reminder_sent_is_emitted_once_the_delivery_arrives(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    delivery_id = uuid.uuid4()
    return_path = bounce_handler.return_path(delivery_id)
    async with TopicReader(broker.bootstrap, Topic.BOUNCES) as reader:
        assert await bounce_handler.send(a_dsn(RECIPIENT, return_path), return_path) == 250
        [waiting] = await bounce_handler.bounces(delivery_id)
        assert (waiting["state"], waiting["kind"]) == ("awaiting_delivery", None)
        assert await bounce_handler.bounced_in_outbox() == 0

        sent = a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT, return_path=return_path)
        await publish(broker.bootstrap, sent)
        await eventually(lambda: len(bounced(reader)) == 1)
        [event] = bounced(reader)
        assert (event.delivery_id, event.kind, event.status) == (delivery_id, "hard", "5.1.1")
        assert event.bounce_id == waiting["id"]
        assert event.bounced_at == waiting["received_at"]
        [resolved] = await bounce_handler.bounces(delivery_id)
        assert (resolved["state"], resolved["kind"], resolved["recipient"]) == ("emitted", "hard", RECIPIENT)

        # Once known, the same DSN again is a duplicate, not a second event.
        assert await bounce_handler.send(a_dsn(RECIPIENT, return_path), return_path) == 250
        assert await bounce_handler.bounced_in_outbox() == 1


async def test_out_of_office_reply_is_recorded_but_not_a_bounce(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    delivery_id = uuid.uuid4()
    return_path = bounce_handler.return_path(delivery_id)
    await publish(broker.bootstrap, a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT))
    await eventually(lambda: bounce_handler.delivery_known(delivery_id))

    reply = an_out_of_office_reply(RECIPIENT, return_path)
    assert await bounce_handler.send(reply, return_path, sender=RECIPIENT) == 250

    [recorded] = await bounce_handler.inbound(delivery_id)
    assert (recorded["verdict"], recorded["detail"]) == ("not_bounce", "auto-reply")
    assert await bounce_handler.bounces(delivery_id) == []
    assert await bounce_handler.bounced_in_outbox() == 0


async def test_a_database_that_does_not_answer_gets_451_and_the_retry_is_recorded(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    delivery_id = uuid.uuid4()
    return_path = bounce_handler.return_path(delivery_id)
    await publish(broker.bootstrap, a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT))
    await eventually(lambda: bounce_handler.delivery_known(delivery_id))
    bounce_handler.app.state.smtp.transaction_timeout_s = 1.0
    dsn = a_dsn(RECIPIENT, return_path)

    async with bounce_handler.db.connection() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE inbound_messages IN ACCESS EXCLUSIVE MODE")
        assert await bounce_handler.send(dsn, return_path) == 451  # the MTA keeps it and retries
    assert await bounce_handler.inbound() == []
    assert await bounce_handler.bounced_in_outbox() == 0

    assert await bounce_handler.send(dsn, return_path) == 250
    assert [b["state"] for b in await bounce_handler.bounces(delivery_id)] == ["emitted"]
    assert await bounce_handler.bounced_in_outbox() == 1


async def _published(bounce_handler: BounceHandler) -> bool:
    return await bounce_handler.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_the_third_soft_dsn_for_a_creditors_address_is_emitted_hard(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    """The soft-bounce policy holds for DSNs as for webhooks, whatever the deliveries."""
    creditor_id = uuid.uuid4()
    async with TopicReader(broker.bootstrap, Topic.BOUNCES) as reader:
        for _ in range(3):
            delivery_id = uuid.uuid4()
            return_path = bounce_handler.return_path(delivery_id)
            sent = a_reminder_sent(
                delivery_id=delivery_id, creditor_id=creditor_id, recipient=RECIPIENT, return_path=return_path
            )
            await publish(broker.bootstrap, sent)
            await eventually(lambda d=delivery_id: bounce_handler.delivery_known(d))
            full = a_dsn(RECIPIENT, return_path, status="4.2.2", action="delayed", diagnostic="smtp; 452 4.2.2 full")
            assert await bounce_handler.send(full, return_path) == 250
        await eventually(lambda: len(bounced(reader)) == 3)
        events = sorted(bounced(reader), key=lambda e: e.bounced_at)
        assert [(e.kind, e.status, e.source) for e in events] == [
            ("soft", "4.2.2", "dsn"),
            ("soft", "4.2.2", "dsn"),
            ("hard", "4.2.2", "dsn"),
        ]
        assert events[2].reason == "escalated: soft bounce 3 within 72h (limit 3): 452 4.2.2 full"
