"""A creditor's reads of what the notifier and the scheduler own, with both owners down (nothing
listens at their URLs): another creditor's claim answers 404 all the same — claims-api refuses it
from its own table before any owner is asked — and the creditor's own claim answers 503
`upstream-unavailable` with Retry-After. The reads through running owners are tested across the
services in tests/security/test_creditor_reads.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from krafa_claims_api.settings import Settings
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import free_port
from pydantic import SecretStr

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker, consume: bool) -> Settings:
    nobody = f"http://127.0.0.1:{free_port()}"
    return Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        consume=consume,
        notifier_url=nobody,
        scheduler_url=nobody,
        gateway_token=SecretStr("internal-token"),
        upstream_timeout_s=2,
    )


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.json()


async def test_another_creditors_claim_is_refused_before_any_owner_is_asked(api: Api) -> None:
    _, first = await api.creditor("Fram")
    _, second = await api.creditor("Valur")
    created = await first.post("/v1/claims", json=claim_body("INV-1"))
    assert created.status_code == 201, created.text
    claim_id = created.json()["id"]
    theirs = (await second.post("/v1/claims", json=claim_body("INV-9"))).json()["id"]

    for response in (
        await second.get(f"/v1/claims/{claim_id}/preview"),
        await second.get(f"/v1/claims/{claim_id}/schedule"),
        await second.post("/v1/previews", json={"claim_ids": [claim_id]}),
        # A delivery the claim's timeline does not name is unknown whoever asks.
        await first.get(f"/v1/claims/{claim_id}/deliveries/{uuid.uuid4()}/document"),
        # One of the caller's own among them does not open the other's.
        await second.post("/v1/previews", json={"claim_ids": [theirs, claim_id]}),
    ):
        _problem(response, 404, "not-found")

    # The owner of the claim gets as far as the owner, which is down.
    for response in (
        await first.get(f"/v1/claims/{claim_id}/preview", params={"channel": "sms"}),
        await first.get(f"/v1/claims/{claim_id}/schedule"),
        await first.post("/v1/previews", json={"claim_ids": [claim_id], "step": 2}),
        await first.post("/v1/previews/sample", json={"language": "is"}),
        await first.get("/v1/templates"),
        await first.get("/v1/policies"),
    ):
        _problem(response, 503, "upstream-unavailable")
        assert response.headers["retry-after"] == "5"


async def test_the_reads_need_the_creditors_key_and_valid_input(api: Api) -> None:
    _, first = await api.creditor("Fram")
    anonymous = await first.get("/v1/templates", headers={"Authorization": ""})
    _problem(anonymous, 401, "unauthorized")
    wrong = await first.get("/v1/policies", headers={"Authorization": "Bearer not-a-key"})
    _problem(wrong, 401, "unauthorized")
    # Refused by claims-api's own validation, before the (down) owner is asked.
    for response in (
        await first.get("/v1/templates/../secrets/email/is"),
        await first.get("/v1/templates/reminder/fax/is"),
        await first.get("/v1/policies/gentle/0"),
        await first.post("/v1/previews", json={"claim_ids": []}),
        await first.post("/v1/previews/sample", json={"language": "de"}),
        await first.post("/v1/previews/sample", json={"language": "is", "creditor_id": "someone-else"}),
    ):
        assert response.status_code in (404, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
