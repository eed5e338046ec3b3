"""Sandboxes over HTTP against the real PostgreSQL and broker (docs/adr/0015): a live key makes a
sandbox key (the sandbox made once, a copy of the live creditor), the two never see each other's
claims, the sandbox's claims say so in their events, and the sandbox's clock only moves forward,
refusing anything else with a problem document and announcing each advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from krafa_claims_api.settings import Settings
from krafa_events import ClaimCreated
from krafa_events.catalog import SandboxClockAdvanced
from krafa_kit.clock import Clock, ManualClock
from krafa_kit.testing import TopicReader, eventually
from pydantic import SecretStr

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALL_SCOPES = ["claims:write", "contacts:write", "read"]


ADMIN = "admin-token-for-tests"


@pytest.fixture
def clock() -> Clock:
    return ManualClock(NOW)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN)})


async def sandbox_client(api: Api, live: httpx.AsyncClient, **body: Any) -> tuple[dict[str, Any], httpx.AsyncClient]:
    made = await live.post("/v1/api-keys", json={"name": "ERP trial", "scopes": ALL_SCOPES, "sandbox": True, **body})
    assert made.status_code == 201, made.text
    client = httpx.AsyncClient(
        base_url=api.base, headers={"Authorization": f"Bearer {made.json()['api_key']}"}, timeout=30
    )
    api.clients.append(client)
    return made.json(), client


async def test_a_live_key_makes_one_sandbox_named_as_such_with_the_live_settings(api: Api) -> None:
    live_id, live = await api.creditor("Ungmennafélagið Fram", country="IS", sender_email="innheimta@fram.is")
    await live.post("/v1/departments", json={"key": "youth", "name": "Youth football", "final_due_offset_days": 10})
    first, sandbox = await sandbox_client(api, live)
    second, _ = await sandbox_client(api, live)
    assert first["sandbox"] is True and first["creditor_id"] != str(live_id)
    assert second["creditor_id"] == first["creditor_id"]  # one sandbox per live creditor
    profile = (await sandbox.get("/v1/creditor")).json()
    assert profile["name"] == "Ungmennafélagið Fram (sandbox)"
    assert profile["sender_email"] == "innheimta@fram.is"
    departments = (await sandbox.get("/v1/departments")).json()["items"]
    assert [d["key"] for d in departments] == ["youth"]
    # The live creditor's keys list only its own; the sandbox's only the sandbox's.
    assert {k["name"] for k in (await sandbox.get("/v1/api-keys")).json()["items"]} == {"ERP trial"}
    assert "ERP trial" not in {k["name"] for k in (await live.get("/v1/api-keys")).json()["items"]}


async def test_a_key_cannot_grant_a_sandbox_scopes_it_lacks(api: Api) -> None:
    _, live = await api.creditor()
    made = await live.post("/v1/api-keys", json={"scopes": ["read"]})
    reader = httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {made.json()['api_key']}"})
    api.clients.append(reader)
    refused = await reader.post("/v1/api-keys", json={"scopes": ["claims:write"], "sandbox": True})
    assert refused.status_code == 403


async def test_a_sandbox_key_cannot_make_a_sandbox_of_the_sandbox(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    refused = await sandbox.post("/v1/api-keys", json={"scopes": ["read"], "sandbox": True})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/sandbox-of-sandbox")


async def test_the_operator_makes_a_sandbox_key_for_a_creditor_with_the_admin_token(api: Api) -> None:
    live_id, live = await api.creditor()
    async with httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
        made = await admin.post(f"/v1/admin/creditors/{live_id}/api-keys", json={"scopes": ["read"], "sandbox": True})
    assert made.status_code == 201, made.text
    assert made.json()["sandbox"] is True and made.json()["creditor_id"] != str(live_id)
    mine, _ = await sandbox_client(api, live)
    assert mine["creditor_id"] == made.json()["creditor_id"]


async def test_live_and_sandbox_never_see_each_others_claims(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    assert (await live.post("/v1/claims", json=claim_body("LIVE-1"))).status_code == 201
    trial = await sandbox.post("/v1/claims", json=claim_body("TRIAL-1"))
    assert trial.status_code == 201, trial.text
    assert [c["invoice_no"] for c in (await live.get("/v1/claims")).json()["items"]] == ["LIVE-1"]
    assert [c["invoice_no"] for c in (await sandbox.get("/v1/claims")).json()["items"]] == ["TRIAL-1"]
    assert (await live.get(f"/v1/claims/{trial.json()['id']}")).status_code == 404
    assert (await live.get("/v1/claims/by-invoice-no/TRIAL-1")).status_code == 404


async def test_a_sandbox_claim_is_announced_as_a_sandbox_creditors_and_a_live_one_is_not(api: Api) -> None:
    _, live = await api.creditor()
    sandbox_info, sandbox = await sandbox_client(api, live)
    async with TopicReader(api.app.state.settings.kafka_bootstrap, "krafa.claims") as reader:
        live_claim = (await live.post("/v1/claims", json=claim_body("LIVE-2"))).json()
        trial = (await sandbox.post("/v1/claims", json=claim_body("TRIAL-2"))).json()

        def created() -> dict[str, ClaimCreated]:
            found = {str(e.claim_id): e for e in reader.of_type(ClaimCreated)}
            return found if {live_claim["id"], trial["id"]} <= found.keys() else {}

        events = await eventually(created, timeout=30)
    assert events[trial["id"]].creditor.sandbox is True
    assert str(events[trial["id"]].creditor_id) == sandbox_info["creditor_id"]
    assert events[live_claim["id"]].creditor.sandbox is False


async def test_the_clock_routes_are_for_sandbox_keys_only(api: Api) -> None:
    _, live = await api.creditor()
    for response in (
        await live.get("/v1/sandbox/clock"),
        await live.post("/v1/sandbox/clock", json={"advance": "P1D"}),
    ):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/sandbox-only")


async def test_a_sandbox_clock_starts_at_the_service_now_and_moves_forward_by_a_duration(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    assert (await sandbox.get("/v1/sandbox/clock")).json() == {
        "now": "2026-03-02T09:00:00Z",
        "offset_s": 0,
        "service_now": "2026-03-02T09:00:00Z",
    }
    key = {"Idempotency-Key": "advance-30-days"}
    moved = await sandbox.post("/v1/sandbox/clock", json={"advance": "P30D"}, headers=key)
    assert moved.status_code == 200, moved.text
    assert moved.json()["now"] == "2026-04-01T09:00:00Z" and moved.json()["offset_s"] == 30 * 86400
    retried = await sandbox.post("/v1/sandbox/clock", json={"advance": "P30D"}, headers=key)
    assert retried.json() == moved.json() and retried.headers["idempotent-replayed"] == "true"
    again = await sandbox.post("/v1/sandbox/clock", json={"advance": "PT12H"})
    assert again.json()["now"] == "2026-04-01T21:00:00Z"
    assert (await sandbox.get("/v1/sandbox/clock")).json()["now"] == "2026-04-01T21:00:00Z"


async def test_a_sandbox_clock_moves_to_an_instant_after_its_now(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    moved = await sandbox.post("/v1/sandbox/clock", json={"to": "2026-05-01T08:30:00+00:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["now"] == "2026-05-01T08:30:00Z"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"advance": "-P1D"}, "bad-duration"),
        ({"advance": "P1M"}, "bad-duration"),
        ({"advance": "thirty days"}, "bad-duration"),
        ({"advance": "PT0S"}, "clock-backwards"),
        ({"advance": "P401D"}, "advance-too-large"),
        ({"to": "2026-03-01T09:00:00Z"}, "clock-backwards"),
        ({"advance": "P1D", "to": "2026-05-01T00:00:00Z"}, "validation"),
        ({}, "validation"),
    ],
)
async def test_an_advance_that_is_not_forward_or_not_understood_is_refused_and_changes_nothing(
    api: Api, body: dict[str, Any], kind: str
) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    await sandbox.post("/v1/sandbox/clock", json={"advance": "P2D"})
    refused = await sandbox.post("/v1/sandbox/clock", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/" + kind)
    assert (await sandbox.get("/v1/sandbox/clock")).json()["now"] == "2026-03-04T09:00:00Z"


async def test_going_back_to_before_the_sandbox_now_is_refused_naming_that_now(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    await sandbox.post("/v1/sandbox/clock", json={"advance": "P10D"})
    refused = await sandbox.post("/v1/sandbox/clock", json={"to": "2026-03-05T09:00:00Z"})
    assert refused.status_code == 422
    assert refused.json()["sandbox_now"] == "2026-03-12T09:00:00+00:00"


async def test_each_advance_is_announced_and_the_sandbox_registers_claims_at_its_own_now(api: Api) -> None:
    _, live = await api.creditor()
    info, sandbox = await sandbox_client(api, live)
    async with TopicReader(api.app.state.settings.kafka_bootstrap, "krafa.claims") as reader:
        await sandbox.post("/v1/sandbox/clock", json={"advance": "P30D"})
        await sandbox.post("/v1/sandbox/clock", json={"advance": "P5D"})
        trial = (await sandbox.post("/v1/claims", json=claim_body("TRIAL-3"))).json()
        live_claim = (await live.post("/v1/claims", json=claim_body("LIVE-3"))).json()
        advances = await eventually(
            lambda: (found := reader.of_type(SandboxClockAdvanced)) and len(found) == 2 and found, timeout=30
        )
    assert [(str(a.creditor_id), a.offset_s, a.advanced_by_s) for a in advances] == [
        (info["creditor_id"], 30 * 86400, 30 * 86400),
        (info["creditor_id"], 35 * 86400, 5 * 86400),
    ]
    assert advances[-1].sandbox_now == NOW + timedelta(days=35) and advances[-1].advanced_at == NOW
    assert trial["created_at"] == "2026-04-06T09:00:00Z"
    assert live_claim["created_at"] == "2026-03-02T09:00:00Z"  # the live creditor keeps the service's now


async def test_a_sandbox_payment_is_booked_over_the_ledger_and_settles_the_claim(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    await sandbox.post("/v1/sandbox/clock", json={"advance": "P10D"})
    claim = (await sandbox.post("/v1/claims", json=claim_body("TRIAL-PAY", 10_000))).json()
    part = await sandbox.post("/v1/sandbox/payments", json={"claim_id": claim["id"], "amount_minor": 4_000})
    assert part.status_code == 201, part.text
    assert part.json()["status"] == "open" and part.json()["paid_at"] == "2026-03-12T09:00:00Z"
    assert part.json()["balance_minor"] == claim["balance_minor"] - 4_000
    rest = await sandbox.post(
        "/v1/sandbox/payments", json={"claim_id": claim["id"], "amount_minor": part.json()["balance_minor"]}
    )
    assert rest.json()["status"] == "paid" and rest.json()["balance_minor"] == 0
    ledger = (await sandbox.get(f"/v1/claims/{claim['id']}/ledger")).json()
    assert [e["amount_minor"] for e in ledger["entries"] if e["kind"] == "payment"] == [
        4_000,
        rest.json()["amount_minor"],
    ]
    closed = await sandbox.post("/v1/sandbox/payments", json={"claim_id": claim["id"], "amount_minor": 1})
    assert closed.status_code == 409 and closed.json()["type"].endswith("/claim-closed")


async def test_a_sandbox_pays_only_its_own_claims_and_a_live_key_pays_nothing(api: Api) -> None:
    _, live = await api.creditor()
    _, sandbox = await sandbox_client(api, live)
    live_claim = (await live.post("/v1/claims", json=claim_body("LIVE-PAY"))).json()
    other = await sandbox.post("/v1/sandbox/payments", json={"claim_id": live_claim["id"], "amount_minor": 100})
    assert other.status_code == 404
    refused = await live.post("/v1/sandbox/payments", json={"claim_id": live_claim["id"], "amount_minor": 100})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/sandbox-only")
    assert (await live.get(f"/v1/claims/{live_claim['id']}")).json()["paid_minor"] == 0


async def test_a_sandbox_webhook_says_it_is_the_sandboxs_and_a_live_one_says_it_is_not(api: Api) -> None:
    live_id, live = await api.creditor()
    info, sandbox = await sandbox_client(api, live)
    # One receiving URL for both (nobody listens: the queued payloads are what is checked).
    for client in (live, sandbox):
        assert (await client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/erp-hook"})).status_code == 201
    for client, invoice in ((live, "LIVE-HOOK"), (sandbox, "TRIAL-HOOK")):
        claim = (await client.post("/v1/claims", json=claim_body(invoice))).json()
        disputed = await client.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "never ordered"})
        assert disputed.status_code == 200, disputed.text
    async with api.db.connection() as conn:
        rows = await conn.fetch("SELECT creditor_id, payload FROM webhook_deliveries ORDER BY creditor_id")
    sandboxed = {str(r["creditor_id"]): r["payload"]["sandbox"] for r in rows}
    assert sandboxed == {str(live_id): False, info["creditor_id"]: True}
