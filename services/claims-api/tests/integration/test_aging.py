"""The aging report over real claims: buckets by days past due, per currency, open balances only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from krafa_kit.clock import Clock, ManualClock

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> Clock:
    return ManualClock(datetime(2026, 5, 1, 9, tzinfo=UTC))


async def test_aging_buckets_open_balances(api: Api) -> None:
    _, a = await api.creditor("A", slip_fee_minor=390, cancellation_fee_minor=290)
    _, b = await api.creditor("B")
    bodies = [
        claim_body("cur", due="2026-05-01", issue_date="2026-01-01"),  # due today: current
        claim_body("d30", due="2026-04-01", issue_date="2026-01-01"),  # 30 days
        claim_body("d31", due="2026-03-31", issue_date="2026-01-01"),  # 31 days
        claim_body("d61", due="2026-03-01", issue_date="2026-01-01"),  # 61 days
        claim_body("d91", due="2026-01-30", issue_date="2026-01-01"),  # 91 days
        claim_body("paid", due="2026-01-01", issue_date="2026-01-01"),
        claim_body("cancelled", due="2026-01-01", issue_date="2026-01-01"),
        claim_body("partial", due="2026-04-20", issue_date="2026-01-01"),  # 11 days, partly paid
        {
            **claim_body("eur", due="2026-04-30", issue_date="2026-01-01"),
            "currency": "EUR",
            "amount_minor": 5000,
        },  # no ISK slip fee
    ]
    created = (await a.post("/v1/claims/bulk", json={"claims": bodies})).json()["claims"]
    ids = {c["invoice_no"]: c["id"] for c in created}
    assert (await a.post(f"/v1/claims/{ids['cancelled']}/cancel")).status_code == 200
    async with api.db.connection() as conn:
        await conn.execute("UPDATE claims SET status = 'paid', paid_minor = 10390 WHERE id = $1::uuid", ids["paid"])
        await conn.execute("UPDATE claims SET paid_minor = 4000 WHERE id = $1::uuid", ids["partial"])
        # Booked late interest is owed too.
        await conn.execute("UPDATE claims SET interest_minor = 250 WHERE id = $1::uuid", ids["d91"])
    await b.post("/v1/claims", json=claim_body("other", due="2026-01-01", issue_date="2026-01-01"))

    response = await a.get("/v1/reports/aging")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["as_of"] == "2026-05-01"
    by_currency = {c["currency"]: c for c in report["currencies"]}
    assert list(by_currency) == ["EUR", "ISK"]
    isk = {b["bucket"]: (b["count"], b["balance_minor"]) for b in by_currency["ISK"]["buckets"]}
    assert isk == {
        "current": (1, 10_390),
        "1-30": (2, 10_390 + 6_390),
        "31-60": (1, 10_390),
        "61-90": (1, 10_390),
        "90+": (1, 10_640),
    }
    assert by_currency["ISK"]["count"] == 6
    assert by_currency["ISK"]["balance_minor"] == 5 * 10_390 + 6_390 + 250
    eur = {b["bucket"]: (b["count"], b["balance_minor"]) for b in by_currency["EUR"]["buckets"]}
    assert eur["1-30"] == (1, 5000)

    # An earlier as_of moves claims to younger buckets.
    earlier = (await a.get("/v1/reports/aging", params={"as_of": "2026-04-01"})).json()
    isk_then = {b["bucket"]: b["count"] for b in earlier["currencies"][1]["buckets"]}
    assert isk_then == {"current": 3, "1-30": 1, "31-60": 1, "61-90": 1, "90+": 0}

    assert (await a.get("/v1/reports/aging", params={"as_of": "not-a-date"})).status_code == 422
