"""The set-based bulk path over the real PostgreSQL: everything a bulk writes (claims, opening
ledger charges, history, debtors, contact points, ClaimCreated and DebtorUpdated in the outbox, in
order), its answer against GET, and all-or-nothing failures that leave no trace."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from krafa_claims_api.debtors.repository import COPY_CONTACTS_FROM, PLAIN_INSERT_FROM
from krafa_events import ClaimCreated, decode, references
from krafa_events.catalog import DebtorUpdated

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

TABLES = ("claims", "ledger_entries", "claim_history", "debtors", "contact_points", "debtor_history", "outbox")


async def counts(api: Api) -> dict[str, int]:
    async with api.db.connection() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_bulk_writes_claims_ledger_history_debtors_and_events(api: Api) -> None:
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=250)
    assert (
        await client.post("/v1/departments", json={"key": "youth", "name": "Youth", "final_due_offset_days": 20})
    ).status_code == 201
    known = await client.put(
        "/v1/debtors/by-customer-no/OLD",
        json={"name": "Old Name", "country": "IS", "email": "old@example.is", "customer_class": "gold"},
    )
    assert known.status_code == 201, known.text
    bodies: list[dict[str, Any]] = [
        claim_body("B-0", 10_000, customer_no="C-1"),
        claim_body("B-1", 7_000, customer_no="C-1", department="youth"),
        claim_body("B-2", 5_000, customer_no="C-2", currency="EUR"),
        claim_body("B-3", 9_000, customer_no="C-3", reference="RF18539007547034"),
        claim_body("B-4", 8_000, customer_no="OLD"),
    ]
    bodies[0]["debtor"]["phone"] = "+3545551234"
    bodies[4]["debtor"]["name"] = "New Name"
    before = await counts(api)

    response = await client.post("/v1/claims/bulk", json={"claims": bodies}, headers={"Idempotency-Key": "b-1"})
    assert response.status_code == 201, response.text
    assert gc.isenabled()  # the collector's pause ended with the request
    answer = response.json()
    assert answer["created"] == 5
    created = answer["claims"]
    assert [c["invoice_no"] for c in created] == [b["invoice_no"] for b in bodies]
    # The slip fee is owed on slips in the creditor's own currency only (docs/domain.md: Icelandic payment slips).
    assert [c["fees_minor"] for c in created] == [250, 250, 0, 250, 250]
    # Iceland: due + 10 days, unless the department says otherwise (docs/domain.md: Icelandic payment slips).
    assert [c["final_due_date"] for c in created] == ["2026-02-11", "2026-02-21", *["2026-02-11"] * 3]
    assert created[3]["reference"] == "RF18539007547034"
    for claim in created:
        references.validate("IS", claim["reference"])
        # The answer is built without a model per claim; it must say what GET says.
        single = (await client.get(f"/v1/claims/{claim['id']}")).json()
        assert claim == {**single, "history": [], "instalments": []}
        assert [h["event_type"] for h in single["history"]] == [ClaimCreated.TYPE]
        assert single["history"][0]["details"] == {
            "amount_minor": claim["amount_minor"],
            "fees_minor": claim["fees_minor"],
            "currency": claim["currency"],
        }
    assert created[0]["debtor_id"] == created[1]["debtor_id"]

    after = await counts(api)
    grown = {table: after[table] - before[table] for table in TABLES}
    # Three new debtors (no DebtorUpdated: their snapshot rides on ClaimCreated); the renamed one
    # is announced and logged once.
    assert grown == {
        "claims": 5,
        "ledger_entries": 5,
        "claim_history": 5,
        "debtors": 3,
        "contact_points": 5,
        "debtor_history": 1,
        "outbox": 6,
    }
    async with api.db.connection() as conn:
        ledger = await conn.fetch(
            "SELECT c.invoice_no, l.kind, l.source_id, l.principal_minor, l.fees_minor, l.amount_minor,"
            " l.currency, l.occurred_at = c.created_at AS at_creation, l.details"
            " FROM ledger_entries l JOIN claims c ON c.id = l.claim_id WHERE c.creditor_id = $1 ORDER BY 1",
            creditor_id,
        )
        rows = await conn.fetch("SELECT event_id, headers, key, value FROM outbox ORDER BY id")
        history_ids = {
            r["claim_id"]: r["event_id"]
            for r in await conn.fetch(
                "SELECT claim_id, event_id FROM claim_history WHERE event_type = $1", ClaimCreated.TYPE
            )
        }
        phones = await conn.fetch(
            "SELECT d.customer_no, p.value, p.consent_source FROM contact_points p JOIN debtors d ON d.id = p.debtor_id"
            " WHERE p.kind = 'phone' AND d.creditor_id = $1",
            creditor_id,
        )
    assert [dict(r) for r in ledger] == [
        {
            "invoice_no": b["invoice_no"],
            "kind": "charge",
            "source_id": "created",
            "principal_minor": b["amount_minor"],
            "fees_minor": fee,
            "amount_minor": b["amount_minor"] + fee,
            "currency": b.get("currency", "ISK"),
            "at_creation": True,
            "details": {"fees_kind": "slip_fee" if fee else None},
        }
        for b, fee in zip(bodies, [250, 250, 0, 250, 250], strict=True)
    ]
    # The claim's phone carries the creditor's contact consent as its evidence.
    assert [dict(r) for r in phones] == [
        {"customer_no": "C-1", "value": "+3545551234", "consent_source": "terms of business §7"}
    ]

    decoded = [(r["event_id"], decode(_headers(r["headers"]), r["value"], r["key"])) for r in rows]
    events = [d.event for _, d in decoded[-6:]]
    # In order: the renamed debtor's DebtorUpdated, then one ClaimCreated per claim as posted.
    assert isinstance(events[0], DebtorUpdated)
    assert events[0].debtor.name == "New Name"
    assert events[0].debtor.customer_class == "gold"
    claim_events = [e for e in events[1:] if isinstance(e, ClaimCreated)]
    assert len(claim_events) == 5
    for event, claim, (event_id, _) in zip(claim_events, created, decoded[-5:], strict=True):
        assert str(event.claim_id) == claim["id"]
        assert str(event.debtor_id) == claim["debtor_id"]
        assert (event.invoice_no, event.reference, event.fees_minor) == (
            claim["invoice_no"],
            claim["reference"],
            claim["fees_minor"],
        )
        assert str(event.final_due_date) == claim["final_due_date"]
        assert event.creditor.name == "Fram"
        assert event.debtor.customer_no == claim["customer_no"]
        assert history_ids[event.claim_id] == event_id  # the history row names its event
    assert claim_events[0].debtor.phone == "+3545551234"
    assert claim_events[0].debtor.email == "jon@example.is"
    assert claim_events[4].debtor.name == "New Name"
    assert claim_events[4].debtor.email == "jon@example.is"  # the claim's address is the newest listed
    assert len({d.id for _, d in decoded[-5:]}) == 5

    # A replay answers the stored (pre-encoded) body.
    again = await client.post("/v1/claims/bulk", json={"claims": bodies}, headers={"Idempotency-Key": "b-1"})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == answer
    assert await counts(api) == after


def _headers(raw: str) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in json.loads(raw)]


async def test_failed_bulk_leaves_nothing_behind(api: Api) -> None:
    _, client = await api.creditor()
    assert (await client.post("/v1/claims/bulk", json={"claims": [claim_body("E-1")]})).status_code == 201
    before = await counts(api)

    async def refused(bodies: list[dict[str, Any]], status: int) -> dict[str, Any]:
        response = await client.post("/v1/claims/bulk", json={"claims": bodies})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, Any] = response.json()
        return problem

    within = await refused([claim_body("D-1", customer_no="N-1"), claim_body("D-1", customer_no="N-2")], 409)
    assert within["type"].endswith("/duplicate-claim")
    assert "D-1" in within["detail"]
    existing = await refused([claim_body("N-3", customer_no="N-3"), claim_body("E-1", customer_no="N-4")], 409)
    assert "E-1" in existing["detail"]
    taken = (await client.get("/v1/claims")).json()["items"][0]["reference"]
    reference = await refused([claim_body("N-5", customer_no="N-5", reference=taken)], 409)
    assert reference["type"].endswith("/reference-in-use")
    assert reference["errors"][0]["pointer"] == "/claims/0/reference"
    assert reference["existing_claim_id"] in reference["detail"]
    invalid_ref = await refused([claim_body("N-6", customer_no="N-6"), claim_body("N-7", reference="RF00123")], 422)
    assert invalid_ref["errors"][0]["pointer"] == "/claims/1/reference"
    early = await refused([claim_body("N-8", customer_no="N-8"), claim_body("N-9", issue_date="2026-03-01")], 422)
    assert early["errors"][0]["pointer"] == "/claims/1/due_date"
    bad_id = claim_body("N-10", customer_no="N-10")
    bad_id["debtor"]["national_id"] = "1201743380"
    national = await refused([claim_body("N-11", customer_no="N-11"), bad_id], 422)
    assert national["errors"][0]["pointer"] == "/claims/1/debtor/national_id"
    amount = await refused([claim_body("N-12", customer_no="N-12"), claim_body("N-13", 0)], 422)
    assert amount["errors"][0]["pointer"] == "/claims/1/amount_minor"

    # All or nothing: not a debtor, contact point, ledger row or event of the refused bulks stays.
    assert await counts(api) == before
    assert gc.isenabled()


async def test_concurrent_bulks_naming_the_same_new_debtors(api: Api) -> None:
    creditor_id, client = await api.creditor()
    # More debtors than go by a plain INSERT (the race's loser inserts them again with ON CONFLICT).
    n = PLAIN_INSERT_FROM + 10
    first = [claim_body(f"P-{i}", customer_no=f"S-{i}") for i in range(n)]
    second = [claim_body(f"Q-{i}", customer_no=f"S-{i}") for i in range(n)]
    for body in second:
        body["debtor"]["name"] = "Renamed"
    # The later INSERT of each debtor waits for the first transaction, finds it taken and merges.
    answers = await asyncio.gather(*(client.post("/v1/claims/bulk", json={"claims": b}) for b in (first, second)))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    debtor_of = [{c["customer_no"]: c["debtor_id"] for c in a.json()["claims"]} for a in answers]
    assert debtor_of[0] == debtor_of[1]
    names = {b["invoice_no"]: b["debtor"]["name"] for b in first + second}
    async with api.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM debtors WHERE creditor_id = $1", creditor_id) == n
        rows = await conn.fetch("SELECT headers, key, value FROM outbox WHERE event_type = $1", ClaimCreated.TYPE)
    events = [decode(_headers(r["headers"]), r["value"], r["key"]).event for r in rows]
    created = [e for e in events if isinstance(e, ClaimCreated) and e.creditor_id == creditor_id]
    assert len(created) == 2 * n
    for event in created:
        # Each claim's snapshot is its debtor as that request left it, under the one shared id.
        assert str(event.debtor_id) == debtor_of[0][event.debtor.customer_no]
        assert event.debtor.name == names[event.invoice_no]


async def test_a_bulk_large_enough_for_copy_writes_what_a_small_one_writes(api: Api) -> None:
    creditor_id, client = await api.creditor()

    def body(i: int) -> dict[str, Any]:
        claim = claim_body(f"L-{i}", 1_000 + i, customer_no=f"L-{i:03d}")
        claim["debtor"]["phone"] = "+3545551234"
        return claim

    small = await client.post("/v1/claims/bulk", json={"claims": [body(0)]})
    # Two contact points per debtor: past the threshold, they go by COPY.
    large = await client.post("/v1/claims/bulk", json={"claims": [body(i) for i in range(1, COPY_CONTACTS_FROM)]})
    assert (small.status_code, large.status_code) == (201, 201), large.text
    async with api.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT d.customer_no, p.creditor_id, p.kind, p.value, p.origin, p.state, p.verified, p.consent_source,"
            " p.consent_at, p.terms_version, p.state_reason, p.listed_at = p.created_at AS listed_on_creation,"
            " p.updated_at = p.created_at AS unchanged, p.verified_at, p.created_at = c.created_at AS with_claim"
            " FROM contact_points p JOIN debtors d ON d.id = p.debtor_id JOIN claims c ON c.debtor_id = d.id"
            " WHERE d.creditor_id = $1 ORDER BY d.customer_no, p.kind",
            creditor_id,
        )
    written = [{k: v for k, v in dict(r).items() if k != "customer_no"} for r in rows]
    assert len(written) == 2 * COPY_CONTACTS_FROM
    assert [r["customer_no"] for r in rows[::2]] == [f"L-{i:03d}" for i in range(COPY_CONTACTS_FROM)]
    # Every debtor's email and phone as the one-claim bulk wrote its own, the creditor's consent as evidence.
    assert written == written[:2] * COPY_CONTACTS_FROM
    assert [(w["kind"], w["value"], w["consent_source"], w["with_claim"]) for w in written[:2]] == [
        ("email", "jon@example.is", "terms of business §7", True),
        ("phone", "+3545551234", "terms of business §7", True),
    ]
    last = large.json()["claims"][-1]
    assert last == {**(await client.get(f"/v1/claims/{last['id']}")).json(), "history": [], "instalments": []}


async def test_a_drawn_reference_already_held_is_drawn_again_for_the_row_and_the_event(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = await api.creditor()
    held = (await client.post("/v1/claims", json=claim_body("R-0", customer_no="R-0"))).json()["reference"]
    # The first claim draws the reference the claim above holds, the last the one the second drew.
    scripted = [int(held[4:]), 10**14 + 11, 10**14 + 11]
    drawn = references.random_number
    monkeypatch.setattr(references, "random_number", lambda: scripted.pop(0) if scripted else drawn())

    bodies = [claim_body(f"R-{i}", customer_no=f"R-{i}") for i in range(1, 4)]
    response = await client.post("/v1/claims/bulk", json={"claims": bodies})
    assert response.status_code == 201, response.text
    assert not scripted
    claims = response.json()["claims"]
    refs = [c["reference"] for c in claims]
    assert len({held, *refs}) == 4
    assert refs[1] == references.rf_from(10**14 + 11)
    async with api.db.connection() as conn:
        rows = await conn.fetch("SELECT headers, key, value FROM outbox WHERE event_type = $1", ClaimCreated.TYPE)
    events = {
        str(e.claim_id): e
        for e in (decode(_headers(r["headers"]), r["value"], r["key"]).event for r in rows)
        if isinstance(e, ClaimCreated)
    }
    for claim in claims:
        # The row, the answer and the event all carry the reference finally drawn.
        single = (await client.get(f"/v1/claims/{claim['id']}")).json()
        event = events[claim["id"]]
        assert event.payment is not None
        assert claim["reference"] == single["reference"] == event.reference == event.payment.reference
        assert claim["payment"] == single["payment"]
        references.validate("IS", claim["reference"])


async def test_a_bulk_s_debtors_keep_their_addresses_as_sent(api: Api) -> None:
    """A bulk's new debtors go in by one statement with their addresses as JSON text (past
    PLAIN_INSERT_FROM without ON CONFLICT): each reads back as sent, quotes, backslashes and
    letters outside ASCII included, and a debtor without an address has none."""
    creditor_id, client = await api.creditor()
    address = {
        "lines": ['c/o Þórunn "Tóta" Ævarsdóttir', "Laugavegur 1 \\ bakhús"],
        "postcode": "101",
        "city": "Reykjavík",
        "country": "IS",
    }

    def body(i: int) -> dict[str, Any]:
        claim = claim_body(f"A-{i}", 1_000 + i, customer_no=f"A-{i:03d}")
        if i % 2:
            claim["debtor"]["address"] = {**address, "lines": [*address["lines"], f"íbúð {i}"]}
        else:
            del claim["debtor"]["address"]
        return claim

    for claims in ([body(0), body(1)], [body(i) for i in range(2, PLAIN_INSERT_FROM + 12)]):
        response = await client.post("/v1/claims/bulk", json={"claims": claims})
        assert response.status_code == 201, response.text
    async with api.db.connection() as conn:
        stored = {
            r["customer_no"]: r["address"]
            for r in await conn.fetch("SELECT customer_no, address FROM debtors WHERE creditor_id = $1", creditor_id)
        }
    expected = {f"A-{i:03d}": body(i)["debtor"].get("address") for i in range(PLAIN_INSERT_FROM + 12)}
    assert stored == expected
    assert stored["A-051"]["lines"][-1] == "íbúð 51"
