"""Cancelling a claim: state, the creditor's cancellation fee, ClaimCancelled through the outbox,
history; idempotent on repeat, 409 for a paid claim, 404 for another creditor's claim."""

from __future__ import annotations

import pytest
from krafa_events import ClaimCancelled
from krafa_kit.testing import TopicReader, eventually

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


async def test_cancel_records_fee_event_and_history_once(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390, cancellation_fee_minor=290)
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    async with TopicReader(broker, "krafa.claims") as reader:
        response = await client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "paid in cash"})
        assert response.status_code == 200, response.text
        cancelled = response.json()
        assert cancelled["status"] == "cancelled"
        assert cancelled["cancel_reason"] == "paid in cash"
        assert cancelled["cancelled_at"] is not None
        assert [h["event_type"] for h in cancelled["history"]][-1] == ClaimCancelled.TYPE

        # Cancelling twice: 200 with the same state and no second effect.
        again = await client.post(f"/v1/claims/{claim['id']}/cancel")
        assert again.status_code == 200
        assert again.json() == cancelled

        events = await eventually(lambda: reader.of_type(ClaimCancelled), timeout=30)
        assert len(events) == 1
        assert str(events[0].claim_id) == claim["id"] and events[0].reason == "paid in cash"
        assert events[0].creditor_id == creditor_id
    async with api.db.connection() as conn:
        entries = await conn.fetch("SELECT kind, amount_minor, currency, creditor_id FROM settlement_entries")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = $1", ClaimCancelled.TYPE)
    # The 290 ISK fee is deducted from the creditor's next settlement (docs/domain.md: Icelandic payment slips).
    assert [dict(e) for e in entries] == [
        {"kind": "cancellation_fee", "amount_minor": -290, "currency": "ISK", "creditor_id": creditor_id}
    ]
    assert outbox == 1


async def test_cancel_without_fee_records_no_settlement_entry(api: Api) -> None:
    _, client = await api.creditor()
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    response = await client.post(f"/v1/claims/{claim['id']}/cancel", json={})
    assert response.status_code == 200
    assert response.json()["cancel_reason"] is None
    async with api.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM settlement_entries") == 0


async def test_cancelling_a_paid_claim_is_409(api: Api) -> None:
    _, client = await api.creditor(cancellation_fee_minor=290)
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    async with api.db.connection() as conn:
        await conn.execute("UPDATE claims SET status = 'paid', paid_at = now() WHERE id = $1::uuid", claim["id"])
    response = await client.post(f"/v1/claims/{claim['id']}/cancel")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/claim-not-cancellable")
    assert (await client.get(f"/v1/claims/{claim['id']}")).json()["status"] == "paid"
    async with api.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM settlement_entries") == 0


async def test_cancel_another_creditors_claim_is_404_and_changes_nothing(api: Api) -> None:
    _, a = await api.creditor("A")
    _, b = await api.creditor("B")
    claim = (await a.post("/v1/claims", json=claim_body())).json()
    response = await b.post(f"/v1/claims/{claim['id']}/cancel")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await a.get(f"/v1/claims/{claim['id']}")).json()["status"] == "open"


async def test_cancel_with_idempotency_key_replays(api: Api) -> None:
    _, client = await api.creditor()
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    headers = {"Idempotency-Key": "cancel-1"}
    first = await client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "x"}, headers=headers)
    again = await client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "x"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post(f"/v1/claims/{claim['id']}/cancel", json={"reason": "y"}, headers=headers)
    assert other.status_code == 422
