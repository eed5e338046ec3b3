"""Nothing leaks from the ERP-facing port: /metrics (creditor names and volumes) only with the
metrics token or on a loopback listener; a re-spelt Authorization header shares its key's rate
limit; a disabled webhook endpoint gets no more retries; idempotency keys live on the wall
clock, whatever clock the service collects on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings
from krafa_kit.clock import Clock, ManualClock
from krafa_kit.testing import eventually, free_port, serving
from pydantic import SecretStr

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

SIM_START = datetime(2031, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return ManualClock(SIM_START)


async def test_metrics_need_the_token_or_a_loopback_listener(api: Api, settings: Settings) -> None:
    await api.creditor("Íþróttafélagið Fram")
    async with httpx.AsyncClient(base_url=api.base) as client:
        # The default listener is loopback (a developer's machine): served.
        assert (await client.get("/metrics")).status_code == 200
    on_the_network = settings.model_copy(update={"http_host": "0.0.0.0"})
    with_token = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    for variant, token in ((on_the_network, None), (with_token, "scrape-me")):
        app = create_app(variant)
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 401 and "Fram" not in refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
            if token is not None:
                served = await client.get("/metrics", headers={"Authorization": f"bearer {token}"})
                assert served.status_code == 200 and "krafa_http_requests_total" in served.text


async def test_a_respelt_authorization_header_shares_the_keys_bucket(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"http_rate_limit_per_s": 0.01, "http_rate_limit_burst": 3}))
    async with serving(app) as base:
        api = Api(app, base)
        _, client = await api.creditor()
        token = client.headers["Authorization"].split(" ", 1)[1]
        spellings = [f"Bearer {token}", f"bearer {token}", f"BEARER   {token}", f"bEaReR {token}"]
        answers = [
            (await client.get("/v1/claims", headers={"Authorization": spelling})).status_code for spelling in spellings
        ]
        assert answers == [200, 200, 200, 429]
        for c in api.clients:
            await c.aclose()


async def test_disabling_a_webhook_cancels_its_pending_retries(api: Api, clock: ManualClock) -> None:
    _, client = await api.creditor()
    # An endpoint nobody listens on: every attempt fails and is retried.
    endpoint = (
        await client.post(
            "/v1/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["claim.disputed"]}
        )
    ).json()
    api.app.state.webhook_worker.retry_delays_s = (0.2,) * 30
    claims = [(await client.post("/v1/claims", json=claim_body(f"W-{i}"))).json() for i in range(3)]
    for claim in claims:
        assert (await client.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "no"})).status_code == 200

    async def retrying() -> list[dict[str, object]] | None:
        log = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
        return log if len(log) == 3 and all(d["attempts"] >= 1 and d["status"] == "pending" for d in log) else None

    await eventually(retrying, timeout=30)
    assert (await client.delete(f"/v1/webhooks/{endpoint['id']}")).status_code == 200
    log = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert {d["status"] for d in log} == {"cancelled"}
    attempts = {d["id"]: d["attempts"] for d in log}
    await asyncio.sleep(1.5)  # several retry intervals: none comes
    later = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert {d["id"]: d["attempts"] for d in later} == attempts
    assert {d["status"] for d in later} == {"cancelled"}


async def test_idempotency_keys_live_on_the_wall_clock(api: Api, clock: ManualClock) -> None:
    _, client = await api.creditor()
    first = await client.post("/v1/claims", json=claim_body("I-1"), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # The service's clock runs years ahead of the wall and then jumps two more days: the key,
    # used a moment ago in real time, still replays.
    clock.advance(timedelta(days=2))
    again = await client.post("/v1/claims", json=claim_body("I-1"), headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    async with api.db.connection() as conn:
        created = await conn.fetchval("SELECT created_at FROM idempotency_keys WHERE key = 'k-1'")
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)
