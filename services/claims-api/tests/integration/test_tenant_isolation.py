"""Tenant isolation matrix: every route that takes an id, called with another creditor's key,
answers 404 problem+json exactly like a missing id (never 403, never data) and changes nothing.
The route list is read from the app's OpenAPI document, so a new id route without a case here fails the test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

# (method, path template) → request body for the call.
CASES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/v1/claims/{claim_id}"): None,
    ("GET", "/v1/claims/by-invoice-no/{invoice_no}"): None,
    ("POST", "/v1/claims/{claim_id}/cancel"): {"reason": "not yours"},
    ("POST", "/v1/claims/{claim_id}/amend"): {"amount_minor": 1},
    ("POST", "/v1/claims/{claim_id}/dispute"): {"reason": "not yours"},
    ("POST", "/v1/claims/{claim_id}/resolve"): {"outcome": "cancel"},
    ("POST", "/v1/claims/{claim_id}/defer"): {"due_date": "2030-01-01"},
    ("POST", "/v1/claims/{claim_id}/instalments"): {"instalments": [{"due_date": "2030-01-01", "amount_minor": 1}]},
    ("POST", "/v1/claims/{claim_id}/hold"): {},
    ("POST", "/v1/claims/{claim_id}/release"): None,
    ("POST", "/v1/claims/{claim_id}/write-off"): {},
    ("GET", "/v1/claims/{claim_id}/ledger"): None,
    ("GET", "/v1/claims/{claim_id}/timeline"): None,
    ("GET", "/v1/claims/{claim_id}/deliveries/{delivery_id}"): None,
    ("GET", "/v1/claims/{claim_id}/deliveries/{delivery_id}/document"): None,
    ("GET", "/v1/claims/{claim_id}/preview"): None,
    ("GET", "/v1/claims/{claim_id}/schedule"): None,
    ("POST", "/v1/webhooks/{webhook_id}/recover"): {"since": "2026-01-01T00:00:00Z"},
    ("GET", "/v1/departments/{department_id}"): None,
    ("DELETE", "/v1/webhooks/{webhook_id}"): None,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): None,
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"): None,
    ("DELETE", "/v1/api-keys/{key_id}"): None,
    ("POST", "/v1/arrangement-requests/{request_id}/approve"): {"note": "not yours"},
    ("POST", "/v1/arrangement-requests/{request_id}/refuse"): {"note": "not yours"},
}
# Debtor, contact-point and upload routes have their own matrix (test_debtors_isolation.py); the
# admin and operator routes take the admin or operator token, not a creditor's key.
# The portal's routes take the operator token of the web service, not a creditor's key.
# A creditor's templates and policies are named by its own keys and read from the notifier and the
# scheduler, which scope them to the creditor claims-api vouches for: tests/security/
# test_creditor_reads.py runs two creditors against those services.
OTHER_MATRIX = (
    "/v1/debtors",
    "/v1/contact-uploads",
    "/v1/admin/",
    "/v1/operator/",
    "/v1/portal/",
    "/v1/templates/",
    "/v1/policies/",
)


async def test_other_creditors_ids_answer_404(api: Api) -> None:
    id_routes = {
        (method.upper(), path)
        for path, item in api.app.openapi()["paths"].items()
        if "{" in path and not path.startswith(OTHER_MATRIX)
        for method in item
    }
    assert id_routes == set(CASES), "add every route that takes an id to CASES"

    creditor_id, owner = await api.creditor("Owner")
    _, intruder = await api.creditor("Intruder")
    claim = (await owner.post("/v1/claims", json=claim_body())).json()
    # A debtor's plan beyond the default terms (three instalments) is a request the owner decides.
    asked = await owner.post(
        f"/v1/portal/creditors/{creditor_id}/debtors/{claim['debtor_id']}/claims/{claim['id']}/arrangements",
        json={"kind": "instalments", "count": 5},
    )
    assert asked.json()["outcome"] == "requested", asked.text
    before = (await owner.get(f"/v1/claims/{claim['id']}")).json()
    owned = {
        "claim_id": claim["id"],
        "department_id": (await owner.post("/v1/departments", json={"key": "k", "name": "K"})).json()["id"],
        "webhook_id": (await owner.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"})).json()["id"],
        "key_id": (await owner.post("/v1/api-keys", json={"scopes": ["read"]})).json()["id"],
        "delivery_id": str(uuid.uuid4()),
        "request_id": asked.json()["request_id"],
        "invoice_no": claim["invoice_no"],
    }
    absent = {name: str(uuid.uuid4()) for name in owned}

    for (method, template), body in CASES.items():
        foreign = await intruder.request(method, template.format(**owned), json=body)
        missing = await intruder.request(method, template.format(**absent), json=body)
        for response in (foreign, missing):
            assert response.status_code == 404, (method, template, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            leaked = str({k: v for k, v in response.json().items() if k != "instance"})
            assert "INV-1" not in leaked and claim["reference"] not in leaked and "Jón" not in leaked
        # The same answer as for an id that does not exist, bar the path.
        assert {k: v for k, v in foreign.json().items() if k != "instance"} == {
            k: v for k, v in missing.json().items() if k != "instance"
        }

    assert (await owner.get(f"/v1/claims/{claim['id']}")).json() == before
    assert (await owner.get(f"/v1/webhooks/{owned['webhook_id']}/deliveries")).status_code == 200
    keys = (await owner.get("/v1/api-keys")).json()["items"]
    assert all(k["revoked_at"] is None for k in keys) and len(keys) == 2
    pending = (await owner.get("/v1/arrangement-requests")).json()["items"]
    assert [r["id"] for r in pending] == [owned["request_id"]]
    listing = (await intruder.get("/v1/claims")).json()
    assert listing["items"] == []
    assert (await intruder.get("/v1/reports/aging")).json()["currencies"] == []


async def test_portal_posts_for_an_unknown_debtor_answer_404_with_an_idempotency_key(api: Api) -> None:
    creditor_id, owner = await api.creditor("Owner")
    claim = (await owner.post("/v1/claims", json=claim_body())).json()
    nobody = str(uuid.uuid4())
    for creditor, debtor in ((nobody, nobody), (str(creditor_id), nobody), (nobody, claim["debtor_id"])):
        base = f"/v1/portal/creditors/{creditor}/debtors/{debtor}"
        for path, body in (
            (f"/claims/{claim['id']}/dispute", {"reason": "not mine"}),
            (f"/claims/{claim['id']}/arrangements", {"kind": "instalments", "count": 2}),
            ("/contact-points", {"kind": "email", "value": "a@example.is", "consent_source": "portal"}),
            (f"/contact-points/{nobody}/opt-out", {}),
        ):
            answer = await owner.post(base + path, json=body, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
            assert answer.status_code == 404, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
