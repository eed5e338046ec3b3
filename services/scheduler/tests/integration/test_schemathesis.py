"""Schemathesis over every operation of the live scheduler API (real PostgreSQL and broker, served
on a socket, with the operator token): no response may be a 5xx, have an undocumented status or
content type, or violate its documented schema. A claim is planned first, so the timeline, the dry
run and the creditor's policy answer 200 and not only 404."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

# Loaded here, on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail
# ("AST constructor recursion depth mismatch") when pytest rewrites a module's AST on one thread
# while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa_events.testing import a_claim_created
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, fuzz_openapi, publish, serving
from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings
from pydantic import SecretStr

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random`; hypothesis warns about it on every operation.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

TOKEN = "operator-test-token"  # noqa: S105 (a test value, not a credential)


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database_url: str, broker: EmbeddedBroker
) -> None:
    settings = Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap, operator_token=SecretStr(TOKEN))
    app = create_app(settings, ManualClock(datetime(2026, 3, 1, tzinfo=UTC)))
    claim = a_claim_created()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as client:
        policy = {
            "key": "gentle",
            "jurisdiction": "IS",
            "steps": [{"name": "gentle", "when": {"after": "due_date", "days": 3}, "channels": ["email"]}],
        }
        put = await client.put(f"/v1/policies/{claim.creditor_id}", json=policy)
        assert put.status_code == 201, put.text
        await publish(broker.bootstrap, claim)

        async def planned() -> bool:
            return (await client.get(f"/v1/claims/{claim.claim_id}/schedule")).status_code == 200

        await eventually(planned, timeout=90)
        spec = (await client.get("/openapi.json")).json()
        known = {"claim_id": str(claim.claim_id), "creditor_id": str(claim.creditor_id)}
        operations, statuses, failures = await asyncio.to_thread(fuzz_openapi, spec, url, auth, known=known)

        # /metrics is left out of the document (Prometheus scrapes it): it answers after the run too.
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        # Unauthenticated calls to the operator routes get the documented 401 problem.
        # Timelines and dry runs show debtor data: as closed as the policies.
        for path in (
            f"/v1/policies/{claim.creditor_id}",
            f"/v1/timelines/{claim.claim_id}",
            f"/v1/claims/{claim.claim_id}/schedule",
        ):
            for authorization in ("", "Bearer not-the-token"):
                anonymous = await client.get(path, headers={"Authorization": authorization})
                assert anonymous.status_code == 401, (path, anonymous.status_code)
                assert anonymous.headers["content-type"].startswith("application/problem+json")

    assert not failures, "\n\n".join(failures)
    assert operations >= 7
    # The seeded claim and policy were found: the run reached the handlers, not only validation.
    for label in (
        "GET /v1/timelines/{claim_id}",
        "GET /v1/claims/{claim_id}/schedule",
        "GET /v1/policies/{creditor_id}",
        "PUT /v1/policies/{creditor_id}",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), (label, statuses[label])
