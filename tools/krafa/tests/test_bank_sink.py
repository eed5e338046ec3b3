"""The bank sink behaves like a claim bank: OAuth2 client credentials with tokens that expire,
rate limits, idempotent creation, requests checked against IOBWS Claims 3.2, the bank's own default
charge and interest rules, partial payments only where allowed, claims that expire out of the
netbank, and a journal that survives a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from krafa.sinks.bank_sink import create_app
from krafa_iobws import contract
from krafa_kit.clock import ManualClock
from krafa_kit.testing import serving

NOW = datetime(2026, 3, 5, 10, tzinfo=UTC)
CLUB, PAYER = "4101692079", "1201743399"


def claim(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "claimKey": {"claimantId": CLUB, "account": f"0133660000{number:02d}", "dueDate": "2026-02-01"},
        "payorId": PAYER,
        "templateCode": "001",
        "amount": 10_000,
        "finalDueDate": "2026-02-11",
        "expirationDate": "2030-02-11",
        **fields,
    }


class Bank:
    def __init__(self, base: str, clock: ManualClock) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=10)
        self.clock = clock
        self.token = "not-a-token"  # noqa: S105

    async def login(self, secret: str = "s3cret") -> httpx.Response:  # noqa: S107
        response = await self.http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("krafa", secret)
        )
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token}", "X-Request-ID": str(uuid.uuid4()), **headers}
        if body is not None:
            sent.setdefault("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
        content = None if body is None else contract.json_body(body)
        response = await self.http.request(method, path, content=content, headers=sent)
        contract.check_response(
            method,
            str(response.request.url),
            sent,
            content,
            response.status_code,
            dict(response.headers),
            response.content,
        )
        return response

    async def netbank(self) -> list[dict[str, Any]]:
        claims: list[dict[str, Any]] = (await self.http.get(f"/netbank/{PAYER}/claims")).json()["claims"]
        return claims


class Ticks:
    """Wall time for the bank's gateway, moved by the test: token lives and rate limits are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def bank(tmp_path: Path, ticks: Ticks) -> AsyncIterator[Bank]:
    clock = ManualClock(NOW)
    app = create_app(
        tmp_path,
        clock=clock,
        client_secret="s3cret",  # noqa: S106
        token_ttl_s=60,
        rate_per_s=5,
        burst=8,
        monotonic=ticks,
    )
    async with serving(app) as base:
        result = Bank(base, clock)
        yield result
        await result.http.aclose()


async def test_tokens_rate_limits_idempotency_and_the_contract(bank: Bank, ticks: Ticks) -> None:
    assert (await bank.login("wrong")).status_code == 401
    assert (await bank.http.post("/oauth2/token", data={"grant_type": "password"})).status_code == 400
    assert (await bank.call("GET", "/v1/claims/x")).json()["code"] == "TOKEN_INVALID"
    token = await bank.login()
    assert token.json()["token_type"] == "Bearer" and token.headers["Cache-Control"] == "no-store"  # noqa: S105

    key = str(uuid.uuid4())
    created = await bank.call("POST", "/v1/claims", claim(1), **{"X-Idempotency-Key": key})
    assert created.status_code == 201 and created.json()["success"]["claimId"] == f"{CLUB}013366000001+20260201"
    replay = await bank.call("POST", "/v1/claims", claim(1), **{"X-Idempotency-Key": key})
    assert replay.json() == created.json()
    reused = await bank.call("POST", "/v1/claims", claim(1, amount=5), **{"X-Idempotency-Key": key})
    assert reused.status_code == 400 and reused.json()["code"] == "PARAMETER_NOT_CONSISTENT"
    assert (await bank.call("POST", "/v1/claims", claim(1))).json()["error"]["resultCode"] == "CLAIM_EXISTS"
    # Not the standard's shape: refused with the reasons, nothing stored.
    wrong = await bank.call("POST", "/v1/claims", claim(2, payorId="120174-3399"))
    assert wrong.status_code == 400 and wrong.json()["code"] == "FORMAT_ERROR" and "payorId" in wrong.json()["detail"]

    # A burst beyond the client's bucket (8, five calls spent): 429 with Retry-After; refilled at 5/s.
    answers = await asyncio.gather(*(bank.call("GET", f"/v1/claims/{CLUB}013366000001+20260201") for _ in range(16)))
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) == 13 and all(a.headers["Retry-After"] == "1" for a in limited)
    ticks.now += 1.0
    assert (await bank.call("GET", f"/v1/claims/{CLUB}013366000001+20260201")).status_code == 200

    # Tokens live a minute.
    ticks.now += 60
    expired = await bank.call("GET", f"/v1/claims/{CLUB}013366000001+20260201")
    assert expired.status_code == 401 and expired.json()["code"] == "TOKEN_EXPIRED"

    stats = (await bank.http.get("/_sink/stats")).json()
    assert stats["request_violations"] == 1 and stats.get("response_violations", 0) == 0


async def test_payments_rules_and_expiry_in_the_netbank(bank: Bank, tmp_path: Path) -> None:
    await bank.login()
    # The bank's own rules, for a claimant that uses them: 950 kr. after 7 days, 2 % a year.
    rules = {
        "defaultCharge": {"referenceDate": "FinalDueDate", "first": {"chargeType": "Amount", "day": 7, "value": 950}},
        "defaultInterest": {
            "referenceDate": "FinalDueDate",
            "baseAmountType": "Amount",
            "baseTimeType": "360",
            "percentage": 18,
        },
        "isPartialPaymentAllowed": False,
    }
    await bank.call("POST", "/v1/claims", claim(3, **rules))
    await bank.call("POST", "/v1/claims", claim(4, otherCostsAmount=390, isPartialPaymentAllowed=True))
    await bank.call("POST", "/v1/claims", claim(5, expirationDate="2026-03-01"))
    shown = {c["claimNumber"]: c for c in await bank.netbank()}
    assert set(shown) == {"000003", "000004"}  # 000005 expired out of the netbank
    # 22 days after the final due date (11 Feb → 5 Mar): the charge, and 10,000 × 18 % × 22 / 360.
    assert shown["000003"]["due"]["defaultCharge"] == 950 and shown["000003"]["due"]["defaultInterest"] == 110
    assert shown["000003"]["totalAmountDue"] == 11_060

    pay = f"/netbank/{PAYER}/claims/{CLUB}013366000003+20260201/pay"
    assert (await bank.http.post(pay, json={"amount": 100})).status_code == 409  # must be paid in full
    partial = await bank.http.post(f"/netbank/{PAYER}/claims/{CLUB}013366000004+20260201/pay", json={"amount": 500})
    assert partial.json()["otherCostsAmountPaid"] == 390 and partial.json()["amount"] == 110
    full = (await bank.http.post(pay, json={})).json()
    assert full["paymentType"] == "Complete" and full["totalAmountPaid"] == 11_060

    listed = await bank.call(
        "GET", f"/v1/claims/transactions?claimantId={CLUB}&dateFrom=2026-03-05&dateTo=2026-03-05&itemsPerPage=1"
    )
    assert listed.headers["X-Paging-TotalItems"] == "2" and len(listed.json()) == 1
    details = (await bank.call("GET", f"/v1/claims/{CLUB}013366000004+20260201")).json()
    assert details["totalAmountDue"] == 9_890 and details["isPartiallyPaid"]
    paid = await bank.call("PATCH", f"/v1/claims/{CLUB}013366000003+20260201", {"amount": 1})
    assert paid.json()["error"]["resultCode"] == "CLAIM_IS_PAID"

    page = (await bank.http.get(f"/netbank/{PAYER}")).text
    assert "0133-66-000004" in page and "9,890 kr." in page and "Greiða" in page

    # Restart: the journal brings everything back.
    again = create_app(tmp_path, clock=ManualClock(NOW + timedelta(days=1)), client_secret="s3cret")  # noqa: S106
    async with serving(again) as base, httpx.AsyncClient(base_url=base) as http:
        claims = (await http.get(f"/netbank/{PAYER}/claims")).json()["claims"]
        assert [c["claimNumber"] for c in claims] == ["000004"] and claims[0]["totalAmountDue"] == 9_890
        assert (await http.get("/_sink/stats")).json()["transactions"] == 2
