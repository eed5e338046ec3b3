"""Consent over the real PostgreSQL (docs/domain.md, digital letters: the creditor's terms must allow
sharing its customers' addresses): an address without consent evidence is stored but never
reaches a reminder; the creditor's contact consent or consent given with the address makes it
usable; a re-sent older list is applied as the current list."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from krafa_claims_api.debtors import repository

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

TERMS = {"source": "terms of business §7", "terms_version": "2026-01", "terms_date": "2026-01-01"}


async def debtor(client: httpx.AsyncClient, customer_no: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/debtors/by-customer-no/{customer_no}")).json()
    return body


async def upload(client: httpx.AsyncClient, text: str, **params: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/contact-uploads", content=text.encode(), headers={"Content-Type": "text/csv"}, params=params
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_addresses_without_consent_evidence_are_kept_but_not_used(api: Api) -> None:
    creditor_id, client = await api.creditor("No terms yet", contact_consent=None)
    assert (await client.get("/v1/contact-consent")).status_code == 404

    # A claim's email, an upload without consent and an API address: kept, not used.
    claim = (await client.post("/v1/claims", json=claim_body(customer_no="C-1"))).json()
    jon = await debtor(client, "C-1")
    assert jon["usable"] == {"email": None, "phone": None, "netbank_opt_in": False}
    (email,) = jon["contact_points"]
    assert email["value"] == "jon@example.is" and not email["usable"]
    assert email["unusable_reason"].startswith("no consent evidence")
    # ...and the debtor's snapshot the other services receive (ClaimCreated) leaves it out.
    async with api.db.connection() as conn:
        values = await conn.fetch("SELECT value FROM outbox WHERE event_type = 'krafa.claim.created.v1'")
    (created,) = [json.loads(r["value"]) for r in values if json.loads(r["value"])["claim_id"] == claim["id"]]
    assert created["debtor"]["email"] is None and created["debtor"]["name"] == "Jón Jónsson"

    job = await upload(client, "customer_no;name;country;email\nC-2;Anna;IS;anna@example.is\n")
    assert job["rows_without_consent"] == 1
    partial = await upload(client, "customer_no;name;country;email\nC-3;Óli;IS;oli@example.is\n", terms_version="v1")
    assert partial["rows_without_consent"] == 1  # a version without the terms' date is no evidence
    assert (await debtor(client, "C-2"))["usable"]["email"] is None

    # Consent with the address (its terms' version and date) is evidence of its own.
    given = await client.post(
        f"/v1/debtors/{jon['id']}/contact-points",
        json={
            "kind": "phone",
            "value": "+3545551234",
            "consent": {"terms_version": "v1", "at": "2025-11-01T00:00:00Z"},
        },
    )
    assert given.json()["usable"] is True and given.json()["unusable_reason"] is None
    listed = await upload(
        client, "customer_no;email\nC-2;anna@example.is\n", terms_version="v1", consent_at="2025-11-01T00:00:00Z"
    )
    assert listed["rows_without_consent"] == 0
    assert (await debtor(client, "C-2"))["usable"]["email"] == "anna@example.is"

    # The creditor attests its terms: addresses it names from now on (and old ones it names again) are used.
    put = await client.put("/v1/contact-consent", json=TERMS)
    assert put.status_code == 200, put.text
    recorded = (await client.get("/v1/contact-consent")).json()
    assert {k: recorded[k] for k in TERMS} == TERMS
    async with api.db.connection() as conn:
        standing = await repository.standing_consent(conn, creditor_id)
    assert standing is not None and standing.terms_version == "2026-01"
    assert (await debtor(client, "C-1"))["usable"]["email"] is None  # not retroactive by itself
    await client.post("/v1/claims", json=claim_body("INV-2", customer_no="C-1"))
    jon = await debtor(client, "C-1")
    assert jon["usable"]["email"] == "jon@example.is"
    email = next(c for c in jon["contact_points"] if c["kind"] == "email")
    assert email["consent"] == {
        "source": "terms of business §7",
        "at": "2026-01-01T00:00:00Z",
        "terms_version": "2026-01",
    }
    # Evidence an address has is kept: the creditor's consent fills only gaps.
    phone = next(c for c in jon["contact_points"] if c["kind"] == "phone")
    assert phone["consent"]["terms_version"] == "v1"

    invalid = await client.put("/v1/contact-consent", json={"terms_version": "x", "terms_date": "9999-01-01"})
    assert invalid.status_code == 422


async def test_a_resent_list_is_applied_as_the_current_list(api: Api) -> None:
    _, client = await api.creditor("Motus client")
    older = "customer_no;name;country;email\nC-1;Jón;IS;jon@example.is\n"
    newer = "customer_no;name;country;email\nC-1;Jón;IS;jon.new@example.is\n"
    first = await upload(client, older)
    await upload(client, newer)
    assert (await debtor(client, "C-1"))["usable"]["email"] == "jon.new@example.is"
    # The creditor sends the earlier list again: it means it as the current one.
    again = await upload(client, older)
    assert again["id"] != first["id"] and again["status"] == "done"
    assert (await debtor(client, "C-1"))["usable"]["email"] == "jon@example.is"
    assert {c["value"] for c in (await debtor(client, "C-1"))["contact_points"]} == {
        "jon@example.is",
        "jon.new@example.is",
    }
