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
    ("POST", "/v1/claims/{claim_id}/cancel"): {"reason": "not yours"},
}


async def test_other_creditors_ids_answer_404(api: Api) -> None:
    id_routes = {
        (method.upper(), path) for path, item in api.app.openapi()["paths"].items() if "{" in path for method in item
    }
    assert id_routes == set(CASES), "add every route that takes an id to CASES"

    _, owner = await api.creditor("Owner")
    _, intruder = await api.creditor("Intruder")
    claim = (await owner.post("/v1/claims", json=claim_body())).json()
    before = (await owner.get(f"/v1/claims/{claim['id']}")).json()

    for (method, template), body in CASES.items():
        foreign = await intruder.request(method, template.format(claim_id=claim["id"]), json=body)
        missing = await intruder.request(method, template.format(claim_id=uuid.uuid4()), json=body)
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
    listing = (await intruder.get("/v1/claims")).json()
    assert listing["items"] == []
    assert (await intruder.get("/v1/reports/aging")).json()["currencies"] == []
