"""The operators' view of webhooks given up: two creditors' real HTTP endpoints answer 500 until the
worker gives up on their deliveries; an operator lists them across creditors (the operator token,
never a creditor's key), then sends one, and then the rest, again once the endpoints answer."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from krafa_claims_api.settings import Settings
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, serving
from pydantic import SecretStr

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

TOKEN = "the operators' token"  # noqa: S105 (a test value)


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker, consume: bool) -> Settings:
    return Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        webhook_allow_private=True,
        consume=consume,
        operator_token=SecretStr(TOKEN),
        gateway_token=SecretStr("claims-api's gateway token"),
    )


class Endpoint:
    """An ERP's webhook endpoint that answers 500 until it is fixed."""

    def __init__(self) -> None:
        self.status = 500
        self.received: list[str] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.received.append(request.headers["webhook-id"])
            return Response(status_code=self.status)


async def test_an_operator_lists_what_was_given_up_across_creditors_and_sends_it_again(api: Api) -> None:
    worker = api.app.state.webhook_worker
    worker.poll_interval_s = 0.05
    worker.retry_delays_s = (0.1,)  # two attempts, then given up
    _, fram = await api.creditor("Fram hf.")
    valur_id, valur = await api.creditor("Valur ehf.")
    fram_end, valur_end = Endpoint(), Endpoint()
    operator = httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    api.clients.append(operator)
    async with serving(fram_end.app) as fram_base, serving(valur_end.app) as valur_base:
        hooks = {}
        for name, client, base in (("fram", fram, fram_base), ("valur", valur, valur_base)):
            created = await client.post("/v1/webhooks", json={"url": f"{base}/hook"})
            assert created.status_code == 201, created.text
            hooks[name] = created.json()["id"]
        # Fram's ERP misses two webhooks, Valur's one.
        for client, count in ((fram, 2), (valur, 1)):
            for i in range(count):
                claim = (await client.post("/v1/claims", json=claim_body(f"INV-{i}", customer_no=f"C-{i}"))).json()
                disputed = await client.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "never ordered"})
                assert disputed.status_code == 200, disputed.text

        async def all_given_up() -> dict[str, object] | None:
            body: dict[str, object] = (await operator.get("/v1/operator/webhooks/given-up")).json()
            return body if body["total"] == 3 else None

        listed = await eventually(all_given_up, timeout=30)
        items = listed["items"]
        assert isinstance(items, list)
        assert sorted(i["creditor_name"] for i in items) == ["Fram hf.", "Fram hf.", "Valur ehf."]
        assert {i["endpoint_id"] for i in items} == set(hooks.values())
        for item in items:
            assert item["attempts"] == 2 and item["last_status_code"] == 500 and not item["endpoint_disabled"]
            assert item["last_attempt_at"] is not None and item["event_type"]
        assert [i["created_at"] for i in items] == sorted((i["created_at"] for i in items), reverse=True)

        # Filtered by creditor or endpoint; `limit` cuts the items, not the total.
        only = (await operator.get("/v1/operator/webhooks/given-up", params={"creditor_id": str(valur_id)})).json()
        assert only["total"] == 1 and only["items"][0]["creditor_id"] == str(valur_id)
        one = (
            await operator.get("/v1/operator/webhooks/given-up", params={"endpoint_id": hooks["fram"], "limit": 1})
        ).json()
        assert one["total"] == 2 and len(one["items"]) == 1

        # Operator only: a creditor's key, the gateway token or no token are refused.
        for headers in (
            {"Authorization": fram.headers["Authorization"]},
            {"Authorization": "Bearer claims-api's gateway token"},
            {},
        ):
            async with httpx.AsyncClient(base_url=api.base, headers=headers, timeout=30) as stranger:
                refused = await stranger.get("/v1/operator/webhooks/given-up")
                assert refused.status_code == 401, refused.text
                again = await stranger.post(f"/v1/operator/webhooks/{hooks['fram']}/recover", json={})
                assert again.status_code == 401

        # The endpoints answer again: one of Fram's is sent again, with its own webhook-id.
        fram_end.status = valur_end.status = 204
        first = next(i for i in items if i["endpoint_id"] == hooks["fram"])
        recovered = await operator.post(
            f"/v1/operator/webhooks/{hooks['fram']}/recover", json={"delivery_id": first["id"]}
        )
        assert (recovered.status_code, recovered.json()) == (202, {"requeued": 1}), recovered.text

        async def delivered(expected: int) -> bool:
            return (await operator.get("/v1/operator/webhooks/given-up")).json()["total"] == expected and bool(
                fram_end.received and fram_end.received[-1] == first["message_id"]
            )

        await eventually(lambda: delivered(2), timeout=30)
        # Sent: no longer given up, so not again; another endpoint's delivery is not this one's.
        twice = await operator.post(f"/v1/operator/webhooks/{hooks['fram']}/recover", json={"delivery_id": first["id"]})
        assert twice.status_code == 409 and twice.json()["code"] == "webhook-delivery-not-given-up", twice.text
        valurs = next(i for i in items if i["endpoint_id"] == hooks["valur"])
        wrong = await operator.post(
            f"/v1/operator/webhooks/{hooks['fram']}/recover", json={"delivery_id": valurs["id"]}
        )
        assert wrong.status_code == 404
        unknown = await operator.post(f"/v1/operator/webhooks/{uuid.uuid4()}/recover", json={})
        assert unknown.status_code == 404

        # All of an endpoint's at once: Fram's last one; Valur's waits for its own endpoint's turn.
        rest = await operator.post(f"/v1/operator/webhooks/{hooks['fram']}/recover", json={})
        assert rest.json() == {"requeued": 1}

        async def only_valurs_left() -> bool:
            body = (await operator.get("/v1/operator/webhooks/given-up")).json()
            return body["total"] == 1 and body["items"][0]["endpoint_id"] == hooks["valur"]

        await eventually(only_valurs_left, timeout=30)
        assert len(set(fram_end.received)) == 2  # both of Fram's webhooks reached it in the end

        # A disabled endpoint is not sent to; its creditor registers anew.
        assert (await valur.delete(f"/v1/webhooks/{hooks['valur']}")).status_code == 200
        disabled = await operator.post(f"/v1/operator/webhooks/{hooks['valur']}/recover", json={})
        assert disabled.status_code == 409 and disabled.json()["code"] == "webhook-endpoint-disabled"
        listed_disabled = (await operator.get("/v1/operator/webhooks/given-up")).json()["items"]
        assert [i["endpoint_disabled"] for i in listed_disabled] == [True]
