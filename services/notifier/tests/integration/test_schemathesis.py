"""Schemathesis over every operation of the live notifier API (real PostgreSQL, broker, SMTP server
and print provider; served on a socket, with the operator token and the acting creditor): no
response may be a 5xx, have an undocumented status or content type, or violate its documented
schema. A claim of the creditor is known first, so previews render and do not only answer 404;
unsigned delivery receipts must get the documented 403 problem."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest

# Loaded here, on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail
# ("AST constructor recursion depth mismatch") when pytest rewrites a module's AST on one thread
# while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa_events import Channel
from krafa_events.testing import a_claim_created, a_reminder_due
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, fuzz_openapi, publish, serving
from krafa_notifier import sms
from krafa_notifier.app import create_app
from pydantic import SecretStr

from .conftest import World

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

TOKEN = "operator-test-token"  # noqa: S105 (test values, not credentials)
RECEIPT_SECRET = "receipt-test-secret"  # noqa: S105


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    world: World, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = world.settings(database_url, broker).model_copy(
        update={
            "operator_token": SecretStr(TOKEN),
            "sms_receipt_secret": SecretStr(RECEIPT_SECRET),
            "twilio_auth_token": SecretStr("twilio-test-token"),
            # One-time codes by SMS go to the real provider sink; unconfigured, they are a 503.
            "sms_provider": "generic",
            "sms_url": world.print_url,
        }
    )
    app = create_app(settings, ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC)))  # Monday, 10:00 in Reykjavík
    claim = a_claim_created()
    claim = claim.model_copy(update={"debtor": claim.debtor.model_copy(update={"phone": "+354 661 2345"})})
    call = a_reminder_due(claim, channels=(Channel.CALL,), step=3, due_at=datetime(2026, 3, 2, 8, tzinfo=UTC))
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Krafa-Creditor-Id": str(claim.creditor_id)}
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        await publish(broker.bootstrap, claim, call, a_reminder_due(claim))

        async def known() -> list[dict[str, str]]:
            preview = await client.get(f"/v1/claims/{claim.claim_id}/preview")
            items: list[dict[str, str]] = (await client.get("/v1/calls/due")).json()["items"]
            return items if preview.status_code == 200 else []

        [task] = await eventually(known, timeout=90)
        async with app.state.runtime.db.connection() as conn:
            delivery_id = await eventually(lambda: conn.fetchval("SELECT id FROM deliveries LIMIT 1"), timeout=60)
        # A signed receipt (for no message of ours) is accepted; fuzzed ones are unsigned.
        body = json.dumps({"id": "msg-1", "status": "delivered"}).encode()
        signed = await client.post(
            "/v1/receipts/sms/generic",
            content=body,
            headers={
                "X-Krafa-Signature": sms.generic_signature(RECEIPT_SECRET, body),
                "Content-Type": "application/json",
            },
        )
        assert signed.status_code == 204, signed.text

        spec = (await client.get("/openapi.json")).json()
        operations, statuses, failures = await asyncio.to_thread(
            fuzz_openapi,
            spec,
            url,
            headers,
            known={
                "claim_id": str(claim.claim_id),
                "provider": "generic",
                "phone": "+354 661 2345",
                "task_id": task["task_id"],
                "delivery_id": str(delivery_id),
                "X-Krafa-Creditor-Id": str(claim.creditor_id),
            },
            bodies={"POST /v1/preview": ("application/json", {"claim_ids": [str(claim.claim_id)], "channel": "sms"})},
        )
        anonymous = await client.get("/v1/calls/due", headers={"Authorization": ""})
        # A delivery names the debtor's channel and the provider's references: operators only.
        hidden = [
            await client.get(f"/v1/deliveries/{delivery_id}", headers={"Authorization": authorization})
            for authorization in ("", "Bearer not-the-token")
        ]
        # The fuzzed creditor header aside: another creditor's view of the known claim is a 404.
        foreign = await client.get(
            f"/v1/claims/{claim.claim_id}/preview", headers={"X-Krafa-Creditor-Id": str(uuid4())}
        )

    assert not failures, "\n\n".join(failures)
    for response in (anonymous, *hidden):
        assert response.status_code == 401 and response.headers["content-type"].startswith("application/problem+json")
    assert foreign.status_code == 404
    assert operations >= 12
    # The seeded claim was found: previews rendered, not only validation answers.
    for label in (
        "POST /v1/preview",
        "GET /v1/claims/{claim_id}/preview",
        "PUT /v1/templates/{key}/{channel}/{language}",
        "GET /v1/calls/due",
        "POST /v1/calls/next",
        "GET /v1/calls/lookup",
        "GET /v1/costs",
        "GET /v1/deliveries/{delivery_id}",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), (label, statuses[label])
    assert statuses["POST /v1/receipts/sms/{provider}"][403] > 0  # unsigned receipts
