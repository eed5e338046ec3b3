"""Krafa's IOBWS Claims description is a valid OpenAPI 3.0 document and `contract` tells the
messages it allows from those it does not (bodies, parameters, headers, media types, answers)."""

from __future__ import annotations

import json
import uuid

import pytest
from krafa_iobws import contract
from openapi_spec_validator import validate

BASE = "http://127.0.0.1:9"
CLAIM_ID = "4101692079013366000001+20260201"
KEY = {"claimantId": "4101692079", "account": "013366000001", "dueDate": "2026-02-01"}
CREATE = {
    "claimKey": KEY,
    "payorId": "1201743399",
    "templateCode": "001",
    "amount": 10390,
    "finalDueDate": "2026-02-11",
    "expirationDate": "2030-02-01",
    "defaultCharge": None,
    "defaultInterest": None,
    "isPartialPaymentAllowed": True,
    "currency": "ISK",
}


def _headers(content_type: str = "application/json") -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4()), "Content-Type": content_type, "Authorization": "Bearer t"}


def test_the_description_is_valid_openapi() -> None:
    validate(contract.document())


def test_a_claim_krafa_creates_passes() -> None:
    headers = {**_headers(), "X-Idempotency-Key": str(uuid.uuid4())}
    contract.check_request("POST", BASE + "/v1/claims", headers, json.dumps(CREATE).encode())


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"payorId": "120174-3399"}, "does not match"),
        ({"amount": -1}, "minimum"),
        ({"templateCode": "01"}, "does not match"),
        ({"finalDueDate": "11.02.2026"}, "date"),
        ({"claimKey": {**KEY, "account": "0133-66-1"}}, "does not match"),
        ({"claimKey": {"claimantId": KEY["claimantId"]}}, "required"),
        ({"defaultInterest": {"percentage": 5}}, "referenceDate"),
    ],
)
def test_a_wrong_claim_is_refused(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(contract.ContractViolation, match=complaint):
        contract.check_request("POST", BASE + "/v1/claims", _headers(), json.dumps({**CREATE, **change}).encode())


def test_headers_and_media_types_are_checked() -> None:
    body = json.dumps(CREATE).encode()
    bearer = {"Content-Type": "application/json", "Authorization": "Bearer t"}
    with pytest.raises(contract.ContractViolation, match="X-Request-ID"):
        contract.check_request("POST", BASE + "/v1/claims", bearer, body)
    with pytest.raises(contract.ContractViolation, match="BearerAuthOAuth"):
        contract.check_request("POST", BASE + "/v1/claims", {**_headers(), "Authorization": ""}, body)
    with pytest.raises(contract.ContractViolation, match="uuid"):
        contract.check_request("POST", BASE + "/v1/claims", {**_headers(), "X-Idempotency-Key": "key-1"}, body)
    patch = json.dumps({"claimStatus": "Cancelled"}).encode()
    url = f"{BASE}/v1/claims/{CLAIM_ID}"
    contract.check_request("PATCH", url, _headers("application/merge-patch+json"), patch)
    with pytest.raises(contract.ContractViolation, match="mimetype"):
        contract.check_request("PATCH", url, _headers(), patch)
    with pytest.raises(contract.ContractViolation, match="Additional properties"):
        contract.check_request(
            "PATCH", url, _headers("application/merge-patch+json"), json.dumps({"payorId": "1201743399"}).encode()
        )


def test_query_parameters_are_checked() -> None:
    url = f"{BASE}/v1/claims/transactions?claimantId=4101692079&dateFrom=2026-01-01&dateTo=2026-01-31"
    contract.check_request("GET", url, _headers(), None)
    with pytest.raises(contract.ContractViolation, match="dateTo"):
        contract.check_request("GET", f"{BASE}/v1/claims/transactions?dateFrom=2026-01-01", _headers(), None)


def test_answers_are_checked() -> None:
    url = f"{BASE}/v1/claims/transactions?claimantId=4101692079&dateFrom=2026-01-01&dateTo=2026-01-31"
    request = _headers()
    answer = {"X-Request-ID": request["X-Request-ID"], "Content-Type": "application/json"}
    payment = {"claimKey": KEY, "paymentType": "Partial", "totalAmountPaid": 2000, "transactionBank": "0133"}
    contract.check_response("GET", url, request, None, 200, answer, json.dumps([payment]).encode())
    with pytest.raises(contract.ContractViolation, match="Whole"):
        bad = json.dumps([{**payment, "paymentType": "Whole"}]).encode()
        contract.check_response("GET", url, request, None, 200, answer, bad)
    with pytest.raises(contract.ContractViolation, match="X-Request-ID"):
        contract.check_response("GET", url, request, None, 200, {"Content-Type": "application/json"}, b"[]")
    with pytest.raises(contract.ContractViolation):
        contract.check_response("GET", url, request, None, 418, answer, b"[]")
    error = {"type": "urn:iobws:error", "code": "TOKEN_EXPIRED", "title": "Token expired"}
    contract.check_response("GET", url, request, None, 401, answer, json.dumps(error).encode())
    retry = {**answer, "Retry-After": "1"}
    contract.check_response("GET", url, request, None, 429, retry, b"")
