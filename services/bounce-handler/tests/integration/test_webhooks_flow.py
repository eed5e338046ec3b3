"""Provider webhooks over the real PostgreSQL and broker: a signed event for one of our
deliveries takes the path of a DSN and ends as EmailBounced with source "webhook"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

import httpx
import pytest
from krafa_events import EmailBounced, Topic
from krafa_events.testing import a_reminder_sent
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish

from .conftest import DOMAIN, MAILGUN_KEY, OPERATOR, POSTMARK_CREDENTIALS, BounceHandler

pytestmark = pytest.mark.integration

RECIPIENT = "Anna@Example.is"


def bounced(reader: TopicReader) -> list[EmailBounced]:
    return [e for e in reader.events if isinstance(e, EmailBounced)]


def mailgun(
    delivery_id: uuid.UUID, *, event: str = "failed", severity: str = "permanent", **extra: Any
) -> dict[str, Any]:
    """A Mailgun webhook request, freshly signed (a new token each time, as Mailgun does)."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    digest = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data: dict[str, Any] = {
        "event": event,
        "id": secrets.token_urlsafe(16),
        "severity": severity,
        "recipient": RECIPIENT.lower(),
        "delivery-status": {
            "code": 550 if severity == "permanent" else 452,
            "message": "5.1.1 The email account does not exist" if severity == "permanent" else "4.2.2 Mailbox full",
        },
        "message": {"headers": {"message-id": f"{delivery_id}@{DOMAIN}"}},
        **extra,
    }
    return {"signature": {"timestamp": timestamp, "token": token, "signature": digest}, "event-data": data}


def postmark_auth(credentials: str = POSTMARK_CREDENTIALS) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def known_delivery(bounce_handler: BounceHandler, broker: EmbeddedBroker, **overrides: Any) -> Any:
    sent = a_reminder_sent(recipient=RECIPIENT, **overrides)
    await publish(broker.bootstrap, sent)
    await eventually(lambda: bounce_handler.delivery_known(sent.delivery_id))
    return sent


async def test_signed_mailgun_failure_emits_one_hard_bounce_and_a_replay_is_refused(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    async with (
        TopicReader(broker.bootstrap, Topic.BOUNCES) as reader,
        httpx.AsyncClient(base_url=bounce_handler.base_url) as http,
    ):
        sent = await known_delivery(bounce_handler, broker)
        request = mailgun(sent.delivery_id)
        response = await http.post("/v1/webhooks/mailgun", json=request)
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "bounce"
        assert response.json()["state"] == "emitted"
        await eventually(lambda: len(bounced(reader)) == 1)
        [event] = bounced(reader)
        assert (event.kind, event.status, event.source, event.delivery_id) == (
            "hard",
            "5.1.1",
            "webhook",
            sent.delivery_id,
        )
        assert (event.recipient, event.creditor_id, event.reminder_id) == (
            RECIPIENT,
            sent.creditor_id,
            sent.reminder_id,
        )

        # The same signed request again: its token is spent.
        replayed = await http.post("/v1/webhooks/mailgun", json=request)
        assert replayed.status_code == 401
        assert replayed.headers["content-type"] == "application/problem+json"
        assert replayed.json()["detail"] == "signature token already used"
        # Mailgun retrying the event with a fresh signature: recorded as a duplicate, no second event.
        retry = mailgun(sent.delivery_id)
        retry["event-data"] = request["event-data"]
        response = await http.post("/v1/webhooks/mailgun", json=retry)
        assert response.json()["state"] == "duplicate"
        assert await bounce_handler.bounced_in_outbox() == 1
        rows = await bounce_handler.bounces(sent.delivery_id)
        assert [(b["state"], b["source"], b["inbound_message_id"]) for b in rows] == [
            ("emitted", "webhook", None),
            ("duplicate", "webhook", None),
        ]
        assert all(b["webhook_event_id"] is not None for b in rows)
        assert (
            await bounce_handler.count("SELECT count(*) FROM webhook_events WHERE delivery_id = $1", sent.delivery_id)
            == 2
        )

        listed = (await http.get("/v1/bounces", params={"delivery_id": str(sent.delivery_id)}, headers=OPERATOR)).json()
        assert {b["source"] for b in listed["items"]} == {"webhook"}
        metrics = (await http.get("/metrics")).text
        assert 'krafa_bounce_webhooks_total{outcome="replayed",provider="mailgun"}' in metrics


async def test_a_postmark_spam_complaint_is_emitted_as_a_hard_complaint(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    async with (
        TopicReader(broker.bootstrap, Topic.BOUNCES) as reader,
        httpx.AsyncClient(base_url=bounce_handler.base_url) as http,
    ):
        sent = await known_delivery(bounce_handler, broker)
        complaint = {
            "RecordType": "SpamComplaint",
            "ID": 4242,
            "Type": "SpamComplaint",
            "Email": RECIPIENT.lower(),
            "MessageID": str(uuid.uuid4()),
            "Metadata": {"krafa_delivery_id": str(sent.delivery_id)},
        }
        refused = await http.post("/v1/webhooks/postmark", json=complaint, headers=postmark_auth("krafa:guess"))
        assert refused.status_code == 401
        response = await http.post("/v1/webhooks/postmark", json=complaint, headers=postmark_auth())
        assert response.status_code == 200, response.text
        assert (response.json()["kind"], response.json()["state"]) == ("complaint", "emitted")
        await eventually(lambda: len(bounced(reader)) == 1)
        [event] = bounced(reader)
        assert (event.kind, event.reason, event.source) == ("hard", "complaint", "webhook")

        # An event that names no delivery of ours is recorded and answered, nothing more.
        stranger = {**complaint, "ID": 4243, "Metadata": {}}
        response = await http.post("/v1/webhooks/postmark", json=stranger, headers=postmark_auth())
        assert response.json()["outcome"] == "unmatched"
        assert await bounce_handler.bounced_in_outbox() == 1


async def test_the_third_soft_bounce_for_a_creditors_address_is_hard(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    creditor_id = uuid.uuid4()
    async with (
        TopicReader(broker.bootstrap, Topic.BOUNCES) as reader,
        httpx.AsyncClient(base_url=bounce_handler.base_url) as http,
    ):
        deliveries = [await known_delivery(bounce_handler, broker, creditor_id=creditor_id) for _ in range(3)]
        # Another creditor's soft bounce for the same address counts for that creditor only.
        other = await known_delivery(bounce_handler, broker)
        assert (
            await http.post("/v1/webhooks/mailgun", json=mailgun(other.delivery_id, severity="temporary"))
        ).status_code == 200
        kinds = []
        requests = [mailgun(sent.delivery_id, severity="temporary") for sent in deliveries]
        for request in requests:
            response = await http.post("/v1/webhooks/mailgun", json=request)
            assert response.status_code == 200, response.text
            assert response.json()["kind"] == "soft"
            kinds.append(response.json()["state"])
        assert kinds == ["emitted"] * 3
        await eventually(lambda: len(bounced(reader)) == 4)
        ours = [e for e in bounced(reader) if e.creditor_id == creditor_id]
        assert [e.kind for e in sorted(ours, key=lambda e: e.bounced_at)] == ["soft", "soft", "hard"]
        third = next(e for e in ours if e.delivery_id == deliveries[2].delivery_id)
        assert third.kind == "hard"
        assert third.reason.startswith("escalated: soft bounce 3 within 72h (limit 3): ")
        [row] = await bounce_handler.bounces(deliveries[2].delivery_id)
        assert (row["kind"], row["escalated"]) == ("hard", True)
        assert [e.kind for e in bounced(reader) if e.creditor_id == other.creditor_id] == ["soft"]

        # The second soft bounce retried by Mailgun (a fresh signature): a duplicate, still soft.
        retry = mailgun(deliveries[1].delivery_id)
        retry["event-data"] = requests[1]["event-data"]
        assert (await http.post("/v1/webhooks/mailgun", json=retry)).json()["state"] == "duplicate"
        rows = await bounce_handler.bounces(deliveries[1].delivery_id)
        assert [(b["state"], b["kind"], b["escalated"]) for b in rows] == [
            ("emitted", "soft", False),
            ("duplicate", "soft", False),
        ]
        assert await bounce_handler.bounced_in_outbox() == 4


async def test_a_webhook_that_beats_its_delivery_is_emitted_when_the_delivery_arrives(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    delivery_id = uuid.uuid4()
    async with (
        TopicReader(broker.bootstrap, Topic.BOUNCES) as reader,
        httpx.AsyncClient(base_url=bounce_handler.base_url) as http,
    ):
        response = await http.post("/v1/webhooks/mailgun", json=mailgun(delivery_id, event="complained"))
        assert response.json()["state"] == "awaiting_delivery"
        assert await bounce_handler.bounced_in_outbox() == 0
        await publish(broker.bootstrap, a_reminder_sent(delivery_id=delivery_id, recipient=RECIPIENT))
        await eventually(lambda: len(bounced(reader)) == 1)
        [event] = bounced(reader)
        assert (event.delivery_id, event.kind, event.reason, event.source) == (
            delivery_id,
            "hard",
            "complaint",
            "webhook",
        )
