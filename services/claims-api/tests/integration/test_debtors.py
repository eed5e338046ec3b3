"""Debtors over the real PostgreSQL and broker: upsert by customer number with validated national
ids, listing with cursors, scopes, and a DebtorUpdated for every change (none for a no-op)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from krafa_claims_api import domain as claims_domain
from krafa_events.catalog import DebtorUpdated
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


def debtor(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Jón Jónsson",
        "kind": "person",
        "national_id": "120174-3399",
        "language": "is",
        "time_zone": "Atlantic/Reykjavik",
        "country": "IS",
        "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        "customer_class": "silver",
        "credit_limit": {"amount_minor": 50_000, "currency": "ISK"},
        "overdue_thresholds": {"warn_days": 10, "block_days": 45},
        "email": "jon@Example.IS",
        "phone": "555 1234",
        **overrides,
    }


async def updates_for(reader: TopicReader, debtor_id: str, count: int) -> list[DebtorUpdated]:
    async def enough() -> list[DebtorUpdated] | None:
        found = [e for e in reader.of_type(DebtorUpdated) if str(e.debtor_id) == debtor_id]
        return found if len(found) >= count else None

    result: list[DebtorUpdated] = await eventually(enough, timeout=60)
    return result


async def test_debtor_upsert_validation_listing_and_events(api: Api, broker: EmbeddedBroker) -> None:
    creditor_id, client = await api.creditor("Fram")
    async with TopicReader(broker.bootstrap, "krafa.claims") as reader:
        created = await client.put("/v1/debtors/by-customer-no/C-1", json=debtor())
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["national_id"] == "1201743399"
        assert body["customer_class"] == "silver"
        assert body["usable"] == {"email": "jon@example.is", "phone": "+3545551234", "netbank_opt_in": False}
        assert {(cp["kind"], cp["origin"], cp["state"]) for cp in body["contact_points"]} == {
            ("email", "creditor_upload", "active"),
            ("phone", "creditor_upload", "active"),
        }
        debtor_id = body["id"]
        assert (await client.get(f"/v1/debtors/{debtor_id}")).json() == body
        assert (await client.get("/v1/debtors/by-customer-no/C-1")).json()["id"] == debtor_id

        # The same PUT again changes nothing and emits nothing; a change emits one DebtorUpdated.
        again = await client.put("/v1/debtors/by-customer-no/C-1", json=debtor())
        assert again.status_code == 200 and again.json()["contact_points"] == body["contact_points"]
        changed = await client.put("/v1/debtors/by-customer-no/C-1", json=debtor(customer_class="gold"))
        assert changed.status_code == 200 and changed.json()["customer_class"] == "gold"
        [first, second] = await updates_for(reader, debtor_id, 2)
        assert first.creditor_id == creditor_id
        assert first.debtor.email == "jon@example.is" and first.debtor.phone == "+3545551234"
        assert first.debtor.customer_class == "silver" and second.debtor.customer_class == "gold"
        assert first.debtor.address is not None and first.debtor.address.city == "Reykjavík"

        # POST upsert with an Idempotency-Key: the replay returns the first response.
        post_body = {"customer_no": "N-1", **debtor(national_id="15108695088", country="NO", phone="+4741234567")}
        headers = {"Idempotency-Key": "debtor-n-1"}
        first_post = await client.post("/v1/debtors", json=post_body, headers=headers)
        assert first_post.status_code == 201, first_post.text
        replay = await client.post("/v1/debtors", json=post_body, headers=headers)
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first_post.json()
        reused = await client.post("/v1/debtors", json={**post_body, "name": "Other"}, headers=headers)
        assert reused.status_code == 422

    # National ids are checked per country; other countries are stored unvalidated.
    cases = [
        (debtor(national_id="120174-3398"), "national_id"),
        (debtor(national_id="450401-3150"), "national_id"),  # a company kennitala for a person
        (debtor(country="NO", national_id="15108695089", phone=None), "national_id"),
        (debtor(country="EE", national_id="36805280108", phone=None), "national_id"),
        (debtor(time_zone="Mars/Olympus"), "time_zone"),
        (debtor(phone="12"), "phone"),
        (debtor(email="not-an-address"), "email"),
        (debtor(address={"lines": ["Laugavegur 1\x00"], "country": "IS"}), "NUL"),
    ]
    for payload, field in cases:
        response = await client.put("/v1/debtors/by-customer-no/BAD", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text
    ee = await client.put(
        "/v1/debtors/by-customer-no/E-1",
        json=debtor(country="EE", national_id="36805280109", phone="+37251234567", language="et"),
    )
    assert ee.status_code == 201, ee.text
    company = await client.put(
        "/v1/debtors/by-customer-no/F-1",
        json=debtor(kind="company", national_id="450401-3150", name="Fram hf."),
    )
    assert company.status_code == 201, company.text
    de = await client.put("/v1/debtors/by-customer-no/D-1", json=debtor(country="DE", national_id="X 123", phone=None))
    assert de.status_code == 201 and de.json()["national_id"] == "X 123"
    assert (await client.get("/v1/debtors/by-customer-no/BAD")).status_code == 404

    # Cursor pagination visits every debtor once.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/debtors", params=params)).json()
        seen += [d["customer_no"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["C-1", "D-1", "E-1", "F-1", "N-1"]
    golds = (await client.get("/v1/debtors", params={"customer_class": "gold"})).json()["items"]
    assert [d["customer_no"] for d in golds] == ["C-1"]
    assert (await client.get("/v1/debtors", params={"cursor": "garbage"})).status_code == 422

    # A claim naming the debtor keeps what the debtor routes set and gets the usable snapshot.
    claim = await client.post("/v1/claims", json=claim_body(customer_no="C-1"))
    assert claim.status_code == 201, claim.text
    after = (await client.get(f"/v1/debtors/{debtor_id}")).json()
    assert after["customer_class"] == "gold" and after["national_id"] == "1201743399"
    assert after["language"] == "is"


async def test_scopes_guard_the_write_routes(api: Api) -> None:
    creditor_id, writer = await api.creditor("Fram")
    debtor_id = (await writer.put("/v1/debtors/by-customer-no/C-1", json=debtor())).json()["id"]
    key = claims_domain.new_api_key()
    async with api.db.connection() as conn:
        await conn.execute(
            "INSERT INTO api_keys (id, creditor_id, prefix, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            creditor_id,
            key.prefix,
            key.secret_hash,
            ["read"],
        )
    async with httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {key.token}"}) as reader:
        assert (await reader.get(f"/v1/debtors/{debtor_id}")).status_code == 200
        assert (await reader.get(f"/v1/debtors/{debtor_id}/credit-status")).status_code == 200
        writes = [
            await reader.put("/v1/debtors/by-customer-no/C-2", json=debtor()),
            await reader.post(f"/v1/debtors/{debtor_id}/contact-points", json={"kind": "netbank"}),
            await reader.delete(f"/v1/debtors/{debtor_id}/personal-data"),
            await reader.post(
                "/v1/contact-uploads", content=b"customer_no\nC-1\n", headers={"Content-Type": "text/csv"}
            ),
        ]
        assert [r.status_code for r in writes] == [403] * 4
    async with httpx.AsyncClient(base_url=api.base) as anonymous:
        assert (await anonymous.get(f"/v1/debtors/{debtor_id}")).status_code == 401
