"""What a creditor's settings screens run on: API keys and webhook endpoints with their delivery log,
one creditor never seeing or touching another's; one delivery sent again on request (after its
retries gave up), with the same webhook-id and its attempt log kept."""

from __future__ import annotations

import httpx
import pytest
from krafa_kit.testing import eventually, serving

from .conftest import Api, claim_body
from .test_webhooks_and_events import Receiver

pytestmark = pytest.mark.integration


async def test_keys_and_webhooks_stay_with_their_creditor_and_a_given_up_delivery_is_sent_again(api: Api) -> None:
    worker = api.app.state.webhook_worker
    worker.retry_delays_s, worker.poll_interval_s = (0.2,), 0.1
    _, owner = await api.creditor("Fram")
    _, intruder = await api.creditor("Valur")
    receiver = Receiver(fail_first=2)  # the first try and its one retry fail: the delivery is given up
    async with serving(receiver.app) as base:
        endpoint = (await owner.post("/v1/webhooks", json={"url": f"{base}/hook"})).json()
        receiver.secret = endpoint["secret"]
        key = (await owner.post("/v1/api-keys", json={"name": "ERP read-only", "scopes": ["read"]})).json()
        claim = (await owner.post("/v1/claims", json=claim_body("INV-1"))).json()
        await owner.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "never ordered"})

        async def given_up() -> list[dict[str, object]]:
            items = (await owner.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
            return [d for d in items if d["status"] == "failed"]

        failed = (await eventually(given_up, timeout=30))[0]
        assert failed["attempts"] == 2 and receiver.received == []

        # The other creditor sees none of it, and cannot resend, revoke or read it.
        assert (await intruder.get("/v1/webhooks")).json()["items"] == []
        assert key["id"] not in [k["id"] for k in (await intruder.get("/v1/api-keys")).json()["items"]]
        resend = f"/v1/webhooks/{endpoint['id']}/deliveries/{failed['id']}/resend"
        for answer in (
            await intruder.post(resend),
            await intruder.get(f"/v1/webhooks/{endpoint['id']}/deliveries"),
            await intruder.delete(f"/v1/api-keys/{key['id']}"),
        ):
            assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
        # Nor through its own endpoint: the delivery must be of the endpoint named.
        own = (await intruder.post("/v1/webhooks", json={"url": f"{base}/other"})).json()
        theirs = await intruder.post(f"/v1/webhooks/{own['id']}/deliveries/{failed['id']}/resend")
        assert theirs.status_code == 404

        # A read-only key cannot resend; the owner's full key can, once per idempotency key.
        async with httpx.AsyncClient(
            base_url=api.base, headers={"Authorization": f"Bearer {key['api_key']}"}
        ) as reader:
            assert (await reader.post(resend)).status_code == 403
        first = await owner.post(resend, headers={"Idempotency-Key": "resend-1"})
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "pending" and first.json()["attempts"] == 0
        again = await owner.post(resend, headers={"Idempotency-Key": "resend-1"})
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        await eventually(lambda: receiver.of_type("claim.disputed"), timeout=30)
        assert receiver.received[0]["id"] == failed["message_id"]  # the same webhook-id: a receiver can dedupe

        async def delivered() -> dict[str, object] | None:
            items = (await owner.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
            return next((d for d in items if d["id"] == failed["id"] and d["status"] == "delivered"), None)

        done = await eventually(delivered, timeout=30)
        assert [a["status_code"] for a in done["attempt_log"]] == [500, 500, 204]  # type: ignore[union-attr]

        # A disabled endpoint sends nothing again.
        await owner.delete(f"/v1/webhooks/{endpoint['id']}")
        refused = await owner.post(resend)
        assert refused.status_code == 409 and refused.json()["code"] == "webhook-endpoint-disabled"
