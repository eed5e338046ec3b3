"""The input rules through the public API: references unique across creditors and never
numbered from a shared counter, strict integers, ISO 4217 currencies, ordered and bounded dates,
every bad row of a bulk at once, a duplicate naming the claim it duplicates, identifiers that
read back."""

from __future__ import annotations

import itertools
from typing import Any

from krafa_events import references
from krafa_kit.inputs import date_window
from stdnum import iso11649

from .conftest import Api, claim_body


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_references_are_random_and_unique_across_creditors(api: Api) -> None:
    _, a = await api.creditor("A")
    _, b = await api.creditor("B")
    created = await a.post(
        "/v1/claims/bulk", json={"claims": [claim_body(f"I-{i}", customer_no="C") for i in range(20)]}
    )
    refs = [c["reference"] for c in created.json()["claims"]]
    assert all(iso11649.is_valid(r) for r in refs) and len(set(refs)) == 20
    # Drawn, not counted: nothing to infer from one about the next, or about another creditor.
    numbers = sorted(int(r[4:]) for r in refs)
    assert min(y - x for x, y in itertools.pairwise(numbers)) > 1_000_000

    # B brings A's reference as its own (an ERP's own RF, or a copy): refused, A's claim not named.
    taken = problem(await b.post("/v1/claims", json=claim_body("B-1", reference=refs[0])), 409)
    assert taken["type"].endswith("/reference-in-use")
    assert taken["errors"] == [{"pointer": "/reference", "code": "reference-in-use", "detail": taken["detail"]}]
    assert "existing_claim_id" not in taken and created.json()["claims"][0]["id"] not in taken["detail"]
    # ...and A gets its own claim named.
    own = problem(await a.post("/v1/claims", json=claim_body("A-x", reference=refs[3])), 409)
    assert own["existing_claim_id"] == created.json()["claims"][3]["id"]

    # Both may use the same self-supplied reference scheme, not the same reference.
    kid_a, kid_b = references.kid_from(4711_0001), references.kid_from(4711_0002)
    assert (await a.post("/v1/claims", json=claim_body("K-1", reference=kid_a))).status_code == 201
    assert (await b.post("/v1/claims", json=claim_body("K-1", reference=kid_b))).status_code == 201
    assert problem(await b.post("/v1/claims", json=claim_body("K-2", reference=kid_a)), 409)
    # Within one bulk, every repeat is reported at once.
    bulk = problem(
        await b.post(
            "/v1/claims/bulk",
            json={
                "claims": [
                    claim_body("D-1", reference=kid_a),
                    claim_body("D-2"),
                    claim_body("D-2"),
                    claim_body("K-1"),
                ]
            },
        ),
        409,
    )
    assert [(e["pointer"], e["code"]) for e in bulk["errors"]] == [
        ("/claims/0/reference", "reference-in-use"),
        ("/claims/2/invoice_no", "duplicate-invoice"),
        ("/claims/3/invoice_no", "duplicate-invoice"),
    ]
    assert bulk["type"].endswith("/conflict")


async def test_duplicate_invoice_names_the_existing_claim(api: Api) -> None:
    _, client = await api.creditor()
    first = (await client.post("/v1/claims", json=claim_body("INV, (1)/2"))).json()
    again = problem(await client.post("/v1/claims", json=claim_body("INV, (1)/2")), 409)
    assert again["type"].endswith("/duplicate-claim")
    assert again["existing_claim_id"] == first["id"]
    assert again["detail"] == f"invoice 'INV, (1)/2' is already registered as claim {first['id']}"
    assert (await client.get(f"/v1/claims/{again['existing_claim_id']}")).json()["invoice_no"] == "INV, (1)/2"


async def test_amounts_are_json_integers(api: Api) -> None:
    _, client = await api.creditor()
    for amount in (1200.0, "1200", True, 12.5):
        refused = problem(await client.post("/v1/claims", json=claim_body("S-1", amount)), 422)
        assert [e["pointer"] for e in refused["errors"]] == ["/amount_minor"], amount
    assert (await client.post("/v1/claims", json=claim_body("S-1", 1200))).json()["amount_minor"] == 1200
    fee = await client.post("/v1/departments", json={"key": "x", "name": "X", "final_due_offset_days": 10.0})
    assert problem(fee, 422)["errors"][0]["pointer"] == "/final_due_offset_days"


async def test_currencies_come_from_iso_4217(api: Api) -> None:
    _, client = await api.creditor()
    for code in ("ABC", "XAU", "isk", "EURO"):
        refused = problem(await client.post("/v1/claims", json=claim_body("C-1", currency=code)), 422)
        assert refused["errors"][0]["pointer"] == "/currency", code
    for code in ("EUR", "NOK", "KWD"):
        assert (await client.post("/v1/claims", json=claim_body(f"C-{code}", currency=code))).status_code == 201


async def test_dates_are_ordered_and_bounded(api: Api) -> None:
    _, client = await api.creditor()
    early = problem(await client.post("/v1/claims", json=claim_body("D-1", final_due_date="2026-01-20")), 422)
    assert [e["pointer"] for e in early["errors"]] == ["/final_due_date"]
    assert "before the due date 2026-02-01" in early["errors"][0]["detail"]
    _first, last = date_window()
    for due in ("9999-12-31", "0001-01-01", last.replace(year=last.year + 1).isoformat()):
        far = problem(await client.post("/v1/claims", json=claim_body("D-2", due=due)), 422)
        assert far["errors"][0]["pointer"] == "/due_date", due
    claim = (await client.post("/v1/claims", json=claim_body("D-3"))).json()
    deferred = problem(await client.post(f"/v1/claims/{claim['id']}/defer", json={"due_date": "9999-12-30"}), 422)
    assert deferred["errors"][0]["pointer"] == "/due_date"
    amended = problem(await client.post(f"/v1/claims/{claim['id']}/amend", json={"due_date": "9999-12-30"}), 422)
    assert amended["errors"][0]["pointer"] == "/due_date"
    assert (await client.get("/v1/reports/aging", params={"as_of": "9999-12-31"})).status_code == 422
    assert (await client.get("/v1/claims", params={"due_to": "9999-12-31"})).status_code == 422
    held = await client.post(f"/v1/claims/{claim['id']}/hold", json={"until": "9999-12-31T00:00:00Z"})
    assert problem(held, 422)["errors"][0]["pointer"] == "/until"


async def test_every_bad_row_of_a_bulk_at_once(api: Api) -> None:
    _, client = await api.creditor()
    bodies = [claim_body(f"B-{i}", customer_no=f"C-{i}") for i in range(6)]
    for i in (1, 3, 4):
        bodies[i]["debtor"]["national_id"] = "1201743380"  # fails the kennitala check digit
    bodies[2]["amount_minor"] = 10.0
    bodies[5]["reference"] = "RF00123"
    refused = problem(await client.post("/v1/claims/bulk", json={"claims": bodies}), 422)
    assert [e["pointer"] for e in refused["errors"]] == [
        "/claims/1/debtor/national_id",
        "/claims/2/amount_minor",
        "/claims/3/debtor/national_id",
        "/claims/4/debtor/national_id",
    ]
    # The reference depends on the creditor's country, so it is checked after the body is valid;
    # then every bad one at once too.
    for i in (1, 3, 4):
        bodies[i]["debtor"]["national_id"] = "1201743399"
    bodies[2]["amount_minor"] = 10
    bodies[0]["reference"] = "RF99"
    refused = problem(await client.post("/v1/claims/bulk", json={"claims": bodies}), 422)
    assert [e["pointer"] for e in refused["errors"]] == ["/claims/0/reference", "/claims/5/reference"]


async def test_customer_numbers_read_back(api: Api) -> None:
    _, client = await api.creditor()
    for customer_no in ("A/B", " C-1", "C-1 ", "C\t1", "C\n1"):
        refused = problem(await client.post("/v1/claims", json=claim_body("N-1", customer_no=customer_no)), 422)
        assert refused["errors"][0]["pointer"] == "/debtor/customer_no", customer_no
    created = (await client.post("/v1/claims", json=claim_body("N-1", customer_no="Æ 1.2-3_x"))).json()
    debtor = (await client.get("/v1/debtors/by-customer-no/Æ 1.2-3_x")).json()
    assert debtor["id"] == created["debtor_id"]
    put = await client.put("/v1/debtors/by-customer-no/%20C-9", json={"name": "X", "country": "IS"})
    assert put.status_code == 422
    upload = await client.post(
        "/v1/contact-uploads",
        content="customer_no;name;country\nA/B;X;IS\nOK-1;Y;IS\n",
        headers={"content-type": "text/csv"},
    )
    job = upload.json()
    assert job["rows_rejected"] == 1 and job["rejects"][0]["field"] == "customer_no"
