"""A creditor's sender identity over HTTP against the real PostgreSQL and broker: PATCH /v1/creditor
checks every field and applies nothing when one is wrong (a problem naming each), publishes
CreditorUpdated with the whole snapshot, changes nothing the second time, records who changed what
(an API key, or the creditor web's user), needs the write scope, and later claims carry it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings
from krafa_events import ClaimCreated
from krafa_events.catalog import CreditorUpdated
from krafa_kit.testing import TopicReader, eventually, serving
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


async def test_a_creditor_changes_how_its_messages_name_it(guarded: Api) -> None:
    broker = guarded.app.state.settings.kafka_bootstrap
    creditor_id, client = await guarded.creditor(
        "Ungmennafélagið Fram", country="IS", sender_email="innheimta@fram.is", contact_phone="+354 555 1234"
    )
    async with TopicReader(broker, "krafa.claims") as reader:
        wrong = await client.patch(
            "/v1/creditor",
            json={"sender_name": "Fram <innheimta@valur.is>", "reply_to": "not an address", "sms_sender_id": "Þróttur"},
        )
        assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
        assert {e["pointer"] for e in wrong.json()["errors"]} == {"/sender_name", "/reply_to", "/sms_sender_id"}
        assert (await client.get("/v1/creditor")).json()["sender_name"] == ""  # nothing applied
        extra = await client.patch("/v1/creditor", json={"name": "Valur"})
        assert extra.status_code == 422  # the registered name is not the creditor's to change here

        change = {
            "sender_name": "Fram – innheimta",
            "reply_to": "Gjaldkeri@Fram.is",
            "sms_sender_id": "FRAM",
            "contact_phone": "5551235",
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        done = await client.patch("/v1/creditor", json=change, headers=headers)
        assert done.status_code == 200, done.text
        profile = done.json()
        assert (profile["sender_name"], profile["reply_to"], profile["sms_sender_id"], profile["contact_phone"]) == (
            "Fram – innheimta",
            "Gjaldkeri@fram.is",
            "FRAM",
            "+354 555 1235",
        )
        assert profile["sender_email"] == "innheimta@fram.is" and profile["name"] == "Ungmennafélagið Fram"
        replayed = await client.patch("/v1/creditor", json=change, headers=headers)
        assert replayed.json() == profile and replayed.headers["idempotent-replayed"] == "true"
        again = await client.patch("/v1/creditor", json=change)  # no key: the same values change nothing
        assert again.status_code == 200 and again.json() == profile

        [event] = await eventually(lambda: reader.of_type(CreditorUpdated), timeout=30)
        assert event.creditor_id == creditor_id and event.debtor_id.int == 0
        assert (event.creditor.sender_name, event.creditor.reply_to, event.creditor.sms_sender_id) == (
            "Fram – innheimta",
            "Gjaldkeri@fram.is",
            "FRAM",
        )
        assert event.creditor.payment_account == "" and event.creditor.name == "Ungmennafélagið Fram"

        # A claim registered afterwards carries the new identity in its own snapshot.
        claim = (await client.post("/v1/claims", json=claim_body("S-1"))).json()
        created = await eventually(
            lambda: [e for e in reader.of_type(ClaimCreated) if str(e.claim_id) == claim["id"]], timeout=30
        )
        assert created[0].creditor.sms_sender_id == "FRAM"

        # The creditor web for a user: recorded as that user; a read-only role cannot change it.
        web = {"Authorization": f"Bearer {TOKEN}", "X-Krafa-Creditor": str(creditor_id)}
        async with httpx.AsyncClient(base_url=guarded.base, timeout=30) as http:
            by_user = await http.patch(
                "/v1/creditor",
                json={"sms_sender_id": ""},
                headers={**web, "X-Krafa-Scopes": "read,claims:write", "X-Krafa-Actor": "anna@fram.is"},
            )
            assert by_user.status_code == 200 and by_user.json()["sms_sender_id"] == ""
            viewer = await http.patch(
                "/v1/creditor", json={"sms_sender_id": "X1"}, headers={**web, "X-Krafa-Scopes": "read"}
            )
            assert viewer.status_code == 403
        await eventually(lambda: len(reader.of_type(CreditorUpdated)) == 2, timeout=30)

    changes = (await client.get("/v1/creditor/changes")).json()["items"]
    assert changes[0]["actor"] == "creditor web: anna@fram.is"
    assert changes[0]["changes"] == {"sms_sender_id": ["FRAM", ""]}
    assert changes[1]["actor"].startswith("API key ") and len(changes) == 2
    assert changes[1]["changes"]["sender_name"] == ["", "Fram – innheimta"]
