"""The creditor web acts for a logged-in creditor user with the portal token, the user's creditor
in X-Krafa-Creditor and the role's scopes in X-Krafa-Scopes: every route stays scoped to that one
creditor (another creditor's claim is not found, a list holds only its own), a read-only role
cannot write, and without the portal token the headers open nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings
from krafa_kit.testing import serving
from pydantic import SecretStr

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

TOKEN = "portal-token-for-tests"  # noqa: S105 — a test token


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings.model_copy(update={"portal_token": SecretStr(TOKEN)}))
    async with serving(app) as base:
        api = Api(app, base)
        try:
            yield api
        finally:
            for client in api.clients:
                await client.aclose()


def web(base: str, creditor_id: object, scopes: str, token: str = TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {token}", "X-Krafa-Creditor": str(creditor_id), "X-Krafa-Scopes": scopes},
        timeout=30,
    )


async def test_a_creditor_user_sees_and_acts_on_their_own_creditor_only(guarded: Api) -> None:
    a, a_key = await guarded.creditor("Fram", cancellation_fee_minor=290)
    _, b_key = await guarded.creditor("Valur")
    mine = (await a_key.post("/v1/claims", json=claim_body("A-1"))).json()
    theirs = (await b_key.post("/v1/claims", json=claim_body("B-1", customer_no="C-9"))).json()

    async with web(guarded.base, a, "read,claims:write") as clerk, web(guarded.base, a, "read") as viewer:
        profile = (await clerk.get("/v1/creditor")).json()
        assert profile["name"] == "Fram" and profile["cancellation_fee_minor"] == 290
        listed = [c["invoice_no"] for c in (await clerk.get("/v1/claims")).json()["items"]]
        assert listed == ["A-1"]
        assert (await clerk.get("/v1/claims", params={"customer_no": "C-9"})).json()["items"] == []
        assert (await clerk.get(f"/v1/claims/{theirs['id']}")).status_code == 404
        assert (await clerk.post(f"/v1/claims/{theirs['id']}/cancel", json={})).status_code == 404
        assert (await b_key.get(f"/v1/claims/{theirs['id']}")).json()["status"] == "open"

        assert (await viewer.get(f"/v1/claims/{mine['id']}")).status_code == 200
        refused = await viewer.post(f"/v1/claims/{mine['id']}/cancel", json={})
        assert refused.status_code == 403
        assert (await a_key.get(f"/v1/claims/{mine['id']}")).json()["status"] == "open"

        done = await clerk.post(f"/v1/claims/{mine['id']}/cancel", json={"reason": "paid in cash"})
        assert done.status_code == 200 and done.json()["status"] == "cancelled"


async def test_the_headers_open_nothing_without_the_portal_token(guarded: Api) -> None:
    a, _ = await guarded.creditor("Fram")
    for token in ("wrong", TOKEN[:-1]):
        async with web(guarded.base, a, "read,claims:write", token=token) as forged:
            assert (await forged.get("/v1/claims")).status_code == 401
    # Scopes beyond the API's own are dropped, not granted.
    async with web(guarded.base, a, "admin,read") as odd:
        assert (await odd.get("/v1/claims")).status_code == 200
        assert (await odd.post("/v1/claims", json=claim_body("A-2"))).status_code == 403
