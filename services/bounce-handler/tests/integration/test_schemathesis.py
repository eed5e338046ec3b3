"""Schemathesis over every operation of the live bounce-handler API (real PostgreSQL and broker,
served on a socket): no response may be a 5xx, have an undocumented status or content type, or
violate its documented schema. A delivery is known and a bounce recorded first, so the listing
has rows; each webhook gets one authentic request (a freshly signed Mailgun event, Postmark's
Basic credentials) besides the fuzzed ones, which must be refused with the documented 400/401.
The operator routes are fuzzed with the operator token, and refuse requests without it (401)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time

import httpx
import pytest

# Loaded here, on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail
# ("AST constructor recursion depth mismatch") when pytest rewrites a module's AST on one thread
# while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa_events.testing import a_reminder_sent
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, fuzz_openapi, publish

from .conftest import DOMAIN, MAILGUN_KEY, OPERATOR, POSTMARK_CREDENTIALS, BounceHandler, a_dsn

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    sent = a_reminder_sent(recipient="anna@example.is")
    other = a_reminder_sent(recipient="bjorn@example.is")
    await publish(broker.bootstrap, sent, other)
    await eventually(lambda: bounce_handler.delivery_known(other.delivery_id), timeout=60)
    dsn = a_dsn("anna@example.is", bounce_handler.return_path(sent.delivery_id))
    assert await bounce_handler.send(dsn, bounce_handler.return_path(sent.delivery_id)) == 250

    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    mailgun = {
        "signature": {
            "timestamp": timestamp,
            "token": token,
            "signature": hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest(),
        },
        "event-data": {
            "event": "failed",
            "id": secrets.token_urlsafe(16),
            "severity": "permanent",
            "recipient": "bjorn@example.is",
            "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
            "message": {"headers": {"message-id": f"<{other.delivery_id}@{DOMAIN}>"}},
        },
    }
    postmark = {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": "SoftBounce",
        "Email": "bjorn@example.is",
        "Details": "smtp;452 4.2.2 Mailbox full",
        "Metadata": {"krafa_delivery_id": str(other.delivery_id)},
    }
    basic = {"Authorization": "Basic " + base64.b64encode(POSTMARK_CREDENTIALS.encode()).decode()}
    async with httpx.AsyncClient(base_url=bounce_handler.base_url, timeout=30) as client:
        spec = (await client.get("/openapi.json")).json()
        operations, statuses, failures = await asyncio.to_thread(
            fuzz_openapi,
            spec,
            bounce_handler.base_url,
            {},
            # The operator routes get the token; the webhooks only their providers' credentials.
            headers_for={
                "POST /v1/webhooks/postmark": basic,
                "GET /v1/bounces": OPERATOR,
                "POST /v1/bounces/parse": OPERATOR,
            },
            known={"delivery_id": str(sent.delivery_id)},
            bodies={
                "POST /v1/webhooks/mailgun": ("application/json", mailgun),
                "POST /v1/webhooks/postmark": ("application/json", postmark),
                "POST /v1/bounces/parse": ("message/rfc822", dsn.decode()),
            },
        )
        # Text PostgreSQL cannot store, in an authentic request: refused as not the provider's format.
        nul = await client.post("/v1/webhooks/postmark", json={**postmark, "Details": "550\x00"}, headers=basic)
        assert nul.status_code == 400 and nul.headers["content-type"].startswith("application/problem+json")
        # The authentic webhooks reached the service: both recorded a bounce of the other delivery.
        listed = (
            await client.get("/v1/bounces", params={"delivery_id": str(other.delivery_id)}, headers=OPERATOR)
        ).json()
        # The operator routes (the list names recipients' addresses) refuse anyone without the token.
        anonymous = [
            await client.get("/v1/bounces"),
            await client.get("/v1/bounces", headers={"Authorization": "Bearer not-the-token"}),
            await client.post("/v1/bounces/parse", content=dsn, headers={"Content-Type": "message/rfc822"}),
        ]

    assert not failures, "\n\n".join(failures)
    for response in anonymous:
        assert response.status_code == 401 and response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == "Bearer"
    assert operations >= 6
    # (Postmark's example may go more than once: a repeat of its event id is recorded as a duplicate.)
    assert {item["source"] for item in listed["items"]} == {"webhook"} and len(listed["items"]) >= 2, listed
    # The seeded rows were found and the authentic requests accepted: the handlers were reached.
    for label in (
        "GET /v1/bounces",
        "POST /v1/bounces/parse",
        "POST /v1/webhooks/mailgun",
        "POST /v1/webhooks/postmark",
    ):
        assert statuses[label][200] > 0, (label, statuses[label])
    # The fuzzed webhooks, neither signed nor in the provider's format, were refused as documented.
    assert statuses["POST /v1/webhooks/mailgun"][401] > 0 and statuses["POST /v1/webhooks/postmark"][400] > 0
