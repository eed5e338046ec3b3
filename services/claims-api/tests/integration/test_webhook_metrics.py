"""A creditor's failing webhook endpoint shows on /metrics: a real HTTP endpoint answers 500, and
the attempt counters, the failure reason and the waiting-delivery gauges move as the worker
retries and finally gives up (deploy/prometheus/rules.yml alerts on them); once the endpoint is
fixed, the creditor recovers what was given up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Response
from krafa_claims_api import kpi
from krafa_kit.testing import eventually, serving
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Api, claim_body


class Endpoint:
    """An ERP's webhook endpoint whose server errors until it is fixed."""

    def __init__(self) -> None:
        self.status = 500
        self.calls = 0
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook() -> Response:
            self.calls += 1
            return Response(status_code=self.status)


@pytest.fixture(autouse=True)
def fast_kpi(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table-read gauges refreshed while the test watches (before the app starts its loop)."""
    monkeypatch.setattr(kpi.SNAPSHOT, "refresh_s", 0.2)


async def scrape(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient(base_url=api.base) as client:
        text = (await client.get("/metrics")).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_a_failing_endpoint_moves_the_webhook_metrics_and_what_was_given_up_is_recovered(api: Api) -> None:
    worker = api.app.state.webhook_worker
    worker.poll_interval_s = 0.05
    # Two attempts fail, then the next retry is an hour away: the delivery waits.
    worker.retry_delays_s = (0.1, 3600)
    started = datetime.now(UTC)
    creditor_id, client = await api.creditor("Fram")
    creditor = str(creditor_id)
    endpoint = Endpoint()
    async with serving(endpoint.app) as base:
        created = await client.post("/v1/webhooks", json={"url": f"{base}/hook", "description": "ERP"})
        assert created.status_code == 201, created.text
        hook = created.json()["id"]
        claims = [
            (await client.post("/v1/claims", json=claim_body(f"INV-{i}", customer_no=f"C-{i}"))).json()
            for i in range(3)
        ]
        samples = await scrape(api)
        assert value(samples, "krafa_webhook_deliveries_pending", creditor=creditor, endpoint=hook) in (None, 0)

        await client.post(f"/v1/claims/{claims[0]['id']}/dispute", json={"reason": "never ordered"})

        async def waiting() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            got = await scrape(api)
            failed = value(got, "krafa_webhook_attempts_total", creditor=creditor, outcome="failed")
            pending = value(got, "krafa_webhook_deliveries_pending", creditor=creditor, endpoint=hook)
            return got if failed == 2 and pending == 1 else None

        samples = await eventually(waiting, timeout=30)
        assert endpoint.calls == 2
        assert value(samples, "krafa_webhook_failures_total", creditor=creditor, reason="http_5xx") == 2
        # Every outcome and reason of the creditor is a series from its first attempt on.
        assert value(samples, "krafa_webhook_attempts_total", creditor=creditor, outcome="delivered") == 0
        assert value(samples, "krafa_webhook_attempts_total", creditor=creditor, outcome="gave_up") == 0
        assert value(samples, "krafa_webhook_failures_total", creditor=creditor, reason="timeout") == 0
        age = value(samples, "krafa_webhook_oldest_pending_age_seconds", creditor=creditor, endpoint=hook)
        assert age is not None and age > 0

        # One retry left: the second delivery fails twice and is given up; the first still waits.
        worker.retry_delays_s = (0.1,)
        await client.post(f"/v1/claims/{claims[1]['id']}/dispute", json={"reason": "paid already"})

        async def given_up() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            got = await scrape(api)
            return got if value(got, "krafa_webhook_attempts_total", creditor=creditor, outcome="gave_up") else None

        samples = await eventually(given_up, timeout=30)
        assert value(samples, "krafa_webhook_attempts_total", creditor=creditor, outcome="gave_up") == 1
        assert value(samples, "krafa_webhook_attempts_total", creditor=creditor, outcome="failed") == 3
        assert value(samples, "krafa_webhook_failures_total", creditor=creditor, reason="http_5xx") == 4

        # The creditor fixes its endpoint: the next webhook is delivered and counted as such.
        endpoint.status = 204
        await client.post(f"/v1/claims/{claims[2]['id']}/dispute", json={"reason": "wrong amount"})

        async def delivered() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            got = await scrape(api)
            ok = value(got, "krafa_webhook_attempts_total", creditor=creditor, outcome="delivered")
            pending = value(got, "krafa_webhook_deliveries_pending", creditor=creditor, endpoint=hook)
            return got if ok == 1 and pending == 1 else None

        samples = await eventually(delivered, timeout=30)
        # Only the first delivery still waits (its retry is an hour away); the given-up one does not.
        assert value(samples, "krafa_webhook_failures_total", creditor=creditor, reason="http_5xx") == 4

        # The creditor recovers what was given up: the one delivery is queued again and delivered,
        # with its own webhook-id; the one still being retried is left to its schedule.
        since = {"since": started.isoformat()}
        recovered = await client.post(f"/v1/webhooks/{hook}/recover", json=since, headers={"Idempotency-Key": "r-1"})
        assert (recovered.status_code, recovered.json()) == (202, {"requeued": 1}), recovered.text

        async def redelivered() -> bool:
            got = await scrape(api)
            return value(got, "krafa_webhook_attempts_total", creditor=creditor, outcome="delivered") == 2

        await eventually(redelivered, timeout=30)
        log = (await client.get(f"/v1/webhooks/{hook}/deliveries")).json()["items"]
        assert sorted(d["status"] for d in log) == ["delivered", "delivered", "pending"]
        given_up = next(d for d in log if d["payload"]["data"]["claim_id"] == claims[1]["id"])
        assert [a["status_code"] for a in given_up["attempt_log"]] == [500, 500, 204]
        # Nothing is left to recover; the same key answers the same; not another creditor's endpoint;
        # not a disabled one.
        again = await client.post(f"/v1/webhooks/{hook}/recover", json=since)
        assert again.json() == {"requeued": 0}
        replayed = await client.post(f"/v1/webhooks/{hook}/recover", json=since, headers={"Idempotency-Key": "r-1"})
        assert replayed.json() == {"requeued": 1} and replayed.headers["idempotent-replayed"] == "true"
        _, stranger = await api.creditor("Valur")
        assert (await stranger.post(f"/v1/webhooks/{hook}/recover", json=since)).status_code == 404
        assert (await client.delete(f"/v1/webhooks/{hook}")).status_code == 200
        disabled = await client.post(f"/v1/webhooks/{hook}/recover", json=since)
        assert disabled.status_code == 409 and disabled.json()["code"] == "webhook-endpoint-disabled"
