"""Listing claims: filters, keyset pagination over (created_at, id), creditor scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from krafa_kit.clock import Clock, ManualClock

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

TODAY = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return ManualClock(TODAY)


async def collect(client: httpx.AsyncClient, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/claims", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


async def test_pages_filters_and_scope(api: Api, clock: ManualClock) -> None:
    _, a = await api.creditor("A")
    _, b = await api.creditor("B")
    bodies = [
        claim_body("I-1", customer_no="C-1", due="2026-01-01", department="football"),
        claim_body("I-2", customer_no="C-2", due="2026-02-01", department="handball"),
        claim_body("I-3", customer_no="C-1", due="2026-02-20", department="football"),
        claim_body("I-4", customer_no="C-3", due="2026-03-10"),
        claim_body("I-5", customer_no="C-2", due="2026-04-01", department="football"),
    ]
    # Two batches at two moments: same created_at inside a batch, so the id breaks ties.
    assert (await a.post("/v1/claims/bulk", json={"claims": bodies[:3]})).status_code == 201
    clock.advance(timedelta(seconds=1))
    assert (await a.post("/v1/claims/bulk", json={"claims": bodies[3:]})).status_code == 201
    assert (await b.post("/v1/claims", json=claim_body("B-1"))).status_code == 201

    everything, pages = await collect(a, 2)
    assert pages == 3 and len(everything) == 5
    keys = [(c["created_at"], c["id"]) for c in everything]
    assert keys == sorted(keys)
    assert {c["invoice_no"] for c in everything} == {f"I-{i}" for i in range(1, 6)}
    assert all(c["history"] == [] for c in everything)

    exact, pages = await collect(a, 5)
    assert len(exact) == 5 and pages == 1  # a full last page has no next cursor

    def invoices(items: list[dict[str, Any]]) -> set[str]:
        return {c["invoice_no"] for c in items}

    assert invoices((await collect(a, 2, customer_no="C-1"))[0]) == {"I-1", "I-3"}
    assert invoices((await collect(a, 2, department="football"))[0]) == {"I-1", "I-3", "I-5"}
    assert invoices((await collect(a, 2, due_from="2026-02-01", due_to="2026-03-10"))[0]) == {"I-2", "I-3", "I-4"}
    # Today is 2026-03-01: I-1 is 59 days overdue, I-2 28, I-3 9.
    assert invoices((await collect(a, 2, overdue_days_min=28))[0]) == {"I-1", "I-2"}
    assert invoices((await collect(a, 2, overdue_days_min=1))[0]) == {"I-1", "I-2", "I-3"}

    cancel = await a.post(f"/v1/claims/{everything[0]['id']}/cancel")
    assert cancel.status_code == 200
    assert invoices((await collect(a, 10, status="cancelled"))[0]) == {everything[0]["invoice_no"]}
    assert len((await collect(a, 10, status="open"))[0]) == 4

    others, _ = await collect(b, 10)
    assert invoices(others) == {"B-1"}


async def test_bad_cursor_and_limit_are_422(api: Api) -> None:
    _, client = await api.creditor()
    bad = await client.get("/v1/claims", params={"cursor": "garbage"})
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/invalid-cursor")
    assert (await client.get("/v1/claims", params={"limit": 0})).status_code == 422
    assert (await client.get("/v1/claims", params={"status": "lost"})).status_code == 422
    assert (await client.get("/v1/claims")).json() == {"items": [], "next_cursor": None}


async def test_an_erp_syncs_by_updated_since_and_finds_claims_by_invoice_number(api: Api) -> None:
    _, a = await api.creditor("A")
    _, b = await api.creditor("B")
    for invoice in ("S-1", "S-2", "2026/07"):
        assert (await a.post("/v1/claims", json=claim_body(invoice))).status_code == 201
    assert (await b.post("/v1/claims", json=claim_body("S-1"))).status_code == 201

    first, _ = await collect(a, 2)
    assert len(first) == 3 and all(c["updated_at"] for c in first)
    watermark = max(c["updated_at"] for c in first)

    # Found by the ERP's own number, slash and all; another creditor's S-1 is not this one's.
    by_number = await a.get("/v1/claims/by-invoice-no/2026/07")
    assert by_number.status_code == 200 and by_number.json()["invoice_no"] == "2026/07"
    s1 = (await a.get("/v1/claims/by-invoice-no/S-1")).json()
    assert s1["id"] == next(c["id"] for c in first if c["invoice_no"] == "S-1")
    assert (await b.get("/v1/claims/by-invoice-no/S-1")).json()["id"] != s1["id"]
    missing = await a.get("/v1/claims/by-invoice-no/NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"

    # A change after the last sync brings exactly that claim back, whatever made the change.
    assert (await a.post(f"/v1/claims/{s1['id']}/cancel")).status_code == 200
    changed, _ = await collect(a, 10, updated_since=watermark)
    assert [c["invoice_no"] for c in changed if c["updated_at"] > watermark] == ["S-1"]
    assert next(c for c in changed if c["invoice_no"] == "S-1")["status"] == "cancelled"
    later = max(c["updated_at"] for c in changed)
    quiet, _ = await collect(a, 10, updated_since=later)
    assert {c["invoice_no"] for c in quiet} <= {"S-1"}  # only what changed at that very instant
    naive = await a.get("/v1/claims", params={"updated_since": "2026-03-01T00:00:00"})
    assert naive.status_code == 422  # a time without a zone is ambiguous
