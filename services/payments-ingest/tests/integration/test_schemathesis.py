"""Schemathesis over every operation of the live payments-ingest API (real PostgreSQL and broker,
served on a socket, with the operator token): no response may be a 5xx, have an undocumented
status or content type, or violate its documented schema. A claim is indexed (through the
consumer), and a bank file with unmatched payments, a CSV mapping and a card instalment failure
are recorded first, so reads find rows, the operator's match succeeds, and the upload gets a real
camt.054 besides the fuzzed bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

# Loaded here, on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail
# ("AST constructor recursion depth mismatch") when pytest rewrites a module's AST on one thread
# while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa.sinks.psp_sink import create_app as create_psp
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import fuzz_openapi, serving
from pydantic import SecretStr

from .conftest import PaymentsIngest, running
from .test_payments_flow import UNKNOWN_REFERENCE, a_claim, a_credit, a_notification

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database_url: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # Card checkouts go to the real PSP sink; unconfigured, they are a documented 503.
    psp = create_psp(secret_key="sk_test_fuzz", webhook_url=None, webhook_secret=None, spool=tmp_path / "psp")  # noqa: S106
    async with (
        serving(psp) as psp_url,
        running(
            database_url,
            broker,
            consume=True,
            psp_url=psp_url,
            psp_secret_key=SecretStr("sk_test_fuzz"),
            psp_webhook_secret=SecretStr("whsec_fuzz"),
        ) as payments_ingest,
    ):
        await _fuzz(payments_ingest)


async def _fuzz(payments_ingest: PaymentsIngest) -> None:
    claim = a_claim(100_081)
    await payments_ingest.publish(claim)
    await payments_ingest.wait_indexed(1)
    camt = a_notification(a_credit(10_390, UNKNOWN_REFERENCE, "Q-1"), a_credit(50, None, "Q-2"))
    async with payments_ingest.client() as client:
        imported = await client.post("/v1/payments/files", content=camt, headers={"Content-Type": "text/xml"})
        assert imported.status_code == 201, imported.text
        queue = {item["bank_ref"]: item for item in (await client.get("/v1/payments/unmatched")).json()["items"]}
        mapping = {
            "columns": {"amount": "Amount", "booking_date": "Date", "reference": "Ref", "default_currency": "ISK"}
        }
        assert (await client.put("/v1/payments/csv-mappings/bank-a", json=mapping)).status_code == 201
        spec = (await client.get("/openapi.json")).json()
        card = spec["components"]["schemas"]["CardInstalmentFailedIn"]["examples"][0]
        failure = await client.post("/v1/card-instalments/failed", json=card)
        assert failure.status_code == 201, failure.text

        operations, statuses, failures = await asyncio.to_thread(
            fuzz_openapi,
            spec,
            payments_ingest.base_url,
            {"Authorization": client.headers["Authorization"]},
            known={
                "import_id": imported.json()["import_id"],
                "payment_id": queue["Q-1"]["payment_id"],
                "name": "bank-a",
                "failure_id": failure.json()["failure_id"],
            },
            bodies={
                "POST /v1/payments/files": ("application/octet-stream", camt.decode()),
                # The operator matches the unmatched 10,390 ISK to the indexed claim.
                "POST /v1/payments/unmatched/{payment_id}/match": (
                    "application/json",
                    {"claim_id": str(claim.claim_id)},
                ),
            },
        )
        anonymous = await client.get("/v1/payments/unmatched", headers={"Authorization": ""})

    assert not failures, "\n\n".join(failures)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("application/problem+json")
    assert operations >= 12
    # The seeded rows were found: the run reached the handlers, not only the validation layer.
    for label in (
        "POST /v1/payments/files",
        "GET /v1/payments/imports/{import_id}",
        "GET /v1/payments/unmatched",
        "POST /v1/payments/unmatched/{payment_id}/match",
        "GET /v1/payments/csv-mappings/{name}",
        "PUT /v1/payments/csv-mappings/{name}",
        "POST /v1/card-instalments/failed",
        "GET /v1/card-instalments/failed/{failure_id}",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), (label, statuses[label])
    # Matched by the operator first, the payment cannot be refunded any more: the documented 409.
    assert statuses["POST /v1/payments/unmatched/{payment_id}/refund"][409] > 0
