"""The shared fuzzer (krafa_kit.testing.fuzz_openapi) over every operation of the live claims API
(real PostgreSQL and broker, served on a socket, called with a creditor's API key): positive and
negative schemathesis runs plus fixed odd requests (wrong content types, broken JSON, invalid
UTF-8, NUL, huge integers). No 5xx, no undocumented status or content type, no body off its
schema. A claim per lifecycle action (in a state that allows it), its debtor, a contact point, a
department and a webhook are seeded, and their ids are the parameters' examples, so reads and
lifecycle changes reach the handlers and answer 2xx."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

# Loaded here, on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail
# ("AST constructor recursion depth mismatch") when pytest rewrites a module's AST on one thread
# while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa_claims_api.api.gateway import TAGS as GATEWAY_TAGS
from krafa_kit.clock import Clock, ManualClock
from krafa_kit.testing import eventually, fuzz_openapi

from .conftest import Api, claim_body

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# What a lifecycle action's claim goes through first, so its example request is allowed.
PREPARED: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "resolve": (("dispute", {"reason": "the debtor says the course was cancelled"}),),
    "release": (("hold", {"until": "2026-03-10T12:00:00Z", "reason": "agreed with the parents"}),),
}


@pytest.fixture
def clock() -> Clock:
    # The day the document's examples were written for: their due dates and holds lie ahead of it.
    return ManualClock(datetime(2026, 1, 10, 9, tzinfo=UTC))


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api) -> None:
    _, client = await api.creditor("Fram", slip_fee_minor=390, cancellation_fee_minor=290)
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    contact = await client.post(
        f"/v1/debtors/{claim['debtor_id']}/contact-points", json={"kind": "email", "value": "jon@example.is"}
    )
    department = await client.post("/v1/departments", json={"key": "knattspyrna", "name": "Knattspyrnudeild"})
    webhook = await client.post("/v1/webhooks", json={"url": "https://127.0.0.1:9/krafa"})
    for seeded in (contact, department, webhook):
        assert seeded.status_code == 201, seeded.text

    # /readyz answers a documented 503 until the consumer has its partitions; fuzz a ready app.
    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(ready, timeout=90)
    spec = (await client.get("/openapi.json")).json()
    # A creditor's reads of what the notifier and the scheduler own answer from those services
    # (docs/adr/0013), which this test does not run: tests/security/test_creditor_reads.py fuzzes
    # them against the real owners.
    spec["paths"] = {
        path: kept
        for path, item in spec["paths"].items()
        if (kept := {m: op for m, op in item.items() if not set(op.get("tags", ())) & set(GATEWAY_TAGS)})
    }
    # Each action that changes a claim gets a claim of its own (a cancel must not end the others'),
    # and each POST its own Idempotency-Key: one key reused on another request is a documented 422.
    headers_for: dict[str, dict[str, str]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "post":
                headers_for[f"POST {path}"] = {"Idempotency-Key": f"fuzz-{len(headers_for)}"}
            if method == "post" and path.startswith("/v1/claims/{claim_id}"):
                action = path.rsplit("/", 1)[1]
                own = (await client.post("/v1/claims", json=claim_body(f"INV-{action}"))).json()
                for step, body in PREPARED.get(action, ()):
                    done = await client.post(f"/v1/claims/{own['id']}/{step}", json=body)
                    assert done.status_code == 200, done.text
                for parameter in operation["parameters"]:
                    if parameter["name"] == "claim_id":
                        parameter["example"] = own["id"]
            elif "{claim_id}" in path:
                for parameter in operation["parameters"]:
                    if parameter["name"] == "claim_id":
                        parameter["example"] = claim["id"]
    known = {
        "debtor_id": claim["debtor_id"],
        "customer_no": claim["customer_no"],
        "contact_id": contact.json()["id"],
        "department_id": department.json()["id"],
        "webhook_id": webhook.json()["id"],
    }
    auth = {"Authorization": client.headers["Authorization"]}
    operations, statuses, failures = await asyncio.to_thread(
        fuzz_openapi, spec, api.base, auth, known=known, headers_for=headers_for
    )

    assert not failures, "\n\n".join(failures)
    assert operations >= 40
    # The seeded data was found: the run reached the handlers, not only validation.
    for label in (
        "POST /v1/claims",
        "GET /v1/claims/{claim_id}",
        "GET /v1/claims/{claim_id}/ledger",
        "GET /v1/claims/{claim_id}/timeline",
        *(f"POST /v1/claims/{{claim_id}}/{action}" for action in ("cancel", "amend", "dispute", "resolve")),
        *(f"POST /v1/claims/{{claim_id}}/{action}" for action in ("defer", "instalments", "hold", "release")),
        "POST /v1/claims/{claim_id}/write-off",
        "GET /v1/debtors/{debtor_id}",
        "GET /v1/debtors/by-customer-no/{customer_no}",
        "PATCH /v1/debtors/{debtor_id}/contact-points/{contact_id}",
        "POST /v1/debtors/{debtor_id}/contact-points/{contact_id}/opt-out",
        "GET /v1/debtors/{debtor_id}/credit-status",
        "GET /v1/departments/{department_id}",
        "GET /v1/webhooks/{webhook_id}/deliveries",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), (label, statuses[label])
