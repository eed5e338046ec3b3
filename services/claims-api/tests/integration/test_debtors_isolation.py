"""Tenant isolation matrix for the debtor routes: every route that takes a debtor, contact-point
or upload id, called by another creditor, answers 404 problem+json exactly like a missing id and
changes nothing. The routes are read from the OpenAPI document, so a new one without a case fails."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

# (method, path template) → request body.
CASES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/debtors/{debtor_id}"): None,
    ("POST", "/v1/debtors/{debtor_id}/contact-points"): {"kind": "email", "value": "intruder@example.is"},
    ("PATCH", "/v1/debtors/{debtor_id}/contact-points/{contact_id}"): {"verified": True},
    ("POST", "/v1/debtors/{debtor_id}/contact-points/{contact_id}/opt-out"): {"reason": "not yours"},
    ("GET", "/v1/debtors/{debtor_id}/credit-status"): None,
    ("POST", "/v1/debtors/{debtor_id}/exports"): None,
    ("GET", "/v1/debtors/{debtor_id}/exports/{export_id}"): None,
    ("GET", "/v1/debtors/{debtor_id}/erasure"): None,
    ("DELETE", "/v1/debtors/{debtor_id}/personal-data"): None,
    ("GET", "/v1/contact-uploads/{upload_id}"): None,
    ("GET", "/v1/debtors/by-customer-no/{customer_no}"): None,
}


async def test_other_creditors_debtor_ids_answer_404(api: Api) -> None:
    mine = {
        (method.upper(), path)
        for path, item in api.app.openapi()["paths"].items()
        if ("/v1/debtors/" in path or "/v1/contact-uploads/" in path) and "{" in path
        for method in item
    }
    # PUT by customer number is an upsert within the caller's own creditor, checked below.
    assert mine - {("PUT", "/v1/debtors/by-customer-no/{customer_no}")} == set(CASES)

    _, owner = await api.creditor("Owner")
    _, intruder = await api.creditor("Intruder")
    claim = (await owner.post("/v1/claims", json=claim_body(customer_no="SECRET-1"))).json()
    debtor_id = claim["debtor_id"]
    contact_id = (await owner.get(f"/v1/debtors/{debtor_id}")).json()["contact_points"][0]["id"]
    upload = await owner.post(
        "/v1/contact-uploads",
        content="customer_no;email\nSECRET-1;jon@example.is\n",
        headers={"Content-Type": "text/csv"},
    )
    upload_id = upload.json()["id"]
    own_debtor = (await intruder.post("/v1/claims", json=claim_body(customer_no="MINE"))).json()["debtor_id"]
    before = (await owner.get(f"/v1/debtors/{debtor_id}")).json()
    export_id = (await owner.post(f"/v1/debtors/{debtor_id}/exports")).json()["id"]

    foreign_ids = {
        "debtor_id": debtor_id,
        "contact_id": contact_id,
        "upload_id": upload_id,
        "customer_no": "SECRET-1",
        "export_id": export_id,
    }
    mixed_ids = {**foreign_ids, "debtor_id": own_debtor}  # the intruder's own debtor, the owner's contact point
    missing_ids = {
        "debtor_id": uuid.uuid4(),
        "contact_id": uuid.uuid4(),
        "upload_id": uuid.uuid4(),
        "customer_no": "NOPE",
        "export_id": uuid.uuid4(),
    }
    for (method, template), body in CASES.items():
        foreign = await intruder.request(method, template.format(**foreign_ids), json=body)
        mixed = await intruder.request(method, template.format(**mixed_ids), json=body)
        missing = await intruder.request(method, template.format(**missing_ids), json=body)
        responses = [foreign, missing] + ([mixed] if "{contact_id}" in template else [])
        for response in responses:
            assert response.status_code == 404, (method, template, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            leaked = str({k: v for k, v in response.json().items() if k != "instance"})  # instance: the path
            assert "SECRET" not in leaked and "jon@" not in leaked and "Jón" not in leaked
        assert {k: v for k, v in foreign.json().items() if k != "instance"} == {
            k: v for k, v in missing.json().items() if k != "instance"
        }

    # The intruder's PUT of the same customer number creates its own debtor; the owner's is untouched.
    put = await intruder.put("/v1/debtors/by-customer-no/SECRET-1", json={"name": "Someone", "country": "IS"})
    assert put.status_code == 201 and put.json()["id"] != debtor_id and put.json()["contact_points"] == []
    after = (await owner.get(f"/v1/debtors/{debtor_id}")).json()
    assert after == before
    listing = (await intruder.get("/v1/debtors")).json()["items"]
    assert {d["customer_no"] for d in listing} == {"MINE", "SECRET-1"}
    assert debtor_id not in {d["id"] for d in listing}
