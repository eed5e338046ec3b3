"""Credit status (docs/domain.md: ERP reminders) over the real PostgreSQL: overdue totals per currency, the oldest
overdue days, credit-limit use, and the verdict from the customer class or the debtor's own
thresholds, on a fixed clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from krafa_kit.clock import Clock, ManualClock

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> Clock | None:
    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


DEBTOR = {
    "name": "Jón Jónsson",
    "country": "IS",
    "language": "is",
    "time_zone": "Atlantic/Reykjavik",
    "credit_limit": {"amount_minor": 30_000, "currency": "ISK"},
}


async def test_credit_status_verdicts(api: Api) -> None:
    _, client = await api.creditor("Directo customer")
    debtor_id = (await client.put("/v1/debtors/by-customer-no/C-1", json=DEBTOR)).json()["id"]
    url = f"/v1/debtors/{debtor_id}/credit-status"

    async def status() -> dict[str, object]:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    empty = await status()
    assert empty["verdict"] == "ok" and empty["currencies"] == [] and empty["oldest_overdue_days"] == 0
    assert empty["as_of"] == "2026-03-01" and empty["limit_used_percent"] == 0
    assert empty["thresholds"] == {"warn_days": 7, "block_days": 30, "warn_minor": None, "block_minor": None}

    await client.post("/v1/claims", json=claim_body("I-1", 10_000, customer_no="C-1", due="2026-02-25"))
    first = await status()
    assert first["verdict"] == "ok" and first["oldest_overdue_days"] == 4 and first["limit_used_percent"] == 33

    await client.post("/v1/claims", json=claim_body("I-2", 18_000, customer_no="C-1", due="2026-02-20"))
    second = await status()
    assert second["verdict"] == "warn" and second["oldest_overdue_days"] == 9
    assert second["limit_used_minor"] == 28_000 and second["limit_used_percent"] == 93
    assert second["reasons"] == ["overdue 9 days (warn at 7)", "credit limit 93% used"]

    eur = claim_body("I-3", 5_000, customer_no="C-1", due="2026-01-01")
    eur["currency"] = "EUR"
    eur_claim = (await client.post("/v1/claims", json=eur)).json()
    third = await status()
    assert third["verdict"] == "block" and third["oldest_overdue_days"] == 59
    assert third["currencies"] == [
        {"currency": "EUR", "open_minor": 5_000, "overdue_minor": 5_000},
        {"currency": "ISK", "open_minor": 28_000, "overdue_minor": 28_000},
    ]
    # A cancelled claim no longer counts.
    assert (await client.post(f"/v1/claims/{eur_claim['id']}/cancel", json={})).status_code == 200
    assert (await status())["verdict"] == "warn"

    # A gold customer is given longer; the debtor's own amount threshold still blocks.
    gold = {**DEBTOR, "customer_class": "gold"}
    await client.put("/v1/debtors/by-customer-no/C-1", json=gold)
    as_gold = await status()
    assert as_gold["thresholds"]["warn_days"] == 30 and as_gold["reasons"] == ["credit limit 93% used"]  # type: ignore[index]
    await client.put(
        "/v1/debtors/by-customer-no/C-1", json={**gold, "overdue_thresholds": {"block_minor": 20_000, "warn_days": 3}}
    )
    by_amount = await status()
    assert by_amount["verdict"] == "block"
    assert by_amount["reasons"] == [
        "overdue amount 28000 (block at 20000)",
        "overdue 9 days (warn at 3)",
        "credit limit 93% used",
    ]

    # Not yet due, but over the credit limit: block.
    await client.put("/v1/debtors/by-customer-no/C-1", json=gold)
    await client.post("/v1/claims", json=claim_body("I-4", 5_000, customer_no="C-1", due="2026-04-01"))
    over = await status()
    assert over["verdict"] == "block" and over["limit_used_percent"] == 110
    assert over["reasons"] == ["credit limit exceeded (110% used)"]

    assert (await client.get(f"/v1/debtors/{uuid.uuid4()}/credit-status")).status_code == 404


async def test_every_debtors_credit_status_comes_in_one_paged_call_as_each_alone(api: Api) -> None:
    _, client = await api.creditor("Directo customer")
    _, other = await api.creditor("Another shop")
    await other.put("/v1/debtors/by-customer-no/X-1", json=DEBTOR)
    for n, (amount, due) in enumerate(((10_000, "2026-02-25"), (31_000, "2026-01-10"), (None, None)), start=1):
        await client.put(f"/v1/debtors/by-customer-no/C-{n}", json={**DEBTOR, "name": f"Debtor {n}"})
        if amount is not None:
            await client.post("/v1/claims", json=claim_body(f"I-{n}", amount, customer_no=f"C-{n}", due=due))
    await client.put("/v1/debtors/by-customer-no/C-4", json={**DEBTOR, "customer_class": "gold"})

    listed: list[dict[str, object]] = []
    cursor = None
    while True:
        page = await client.get("/v1/credit-statuses", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        listed.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    debtors = (await client.get("/v1/debtors", params={"limit": 10})).json()["items"]
    # The debtors list's order, and never another creditor's debtor.
    assert [s["customer_no"] for s in listed] == [d["customer_no"] for d in debtors]
    assert sorted(str(s["customer_no"]) for s in listed) == ["C-1", "C-2", "C-3", "C-4"]
    for item in listed:
        alone = (await client.get(f"/v1/debtors/{item['debtor_id']}/credit-status")).json()
        assert item == alone
    verdicts = {s["customer_no"]: s["verdict"] for s in listed}
    assert verdicts == {"C-1": "ok", "C-2": "block", "C-3": "ok", "C-4": "ok"}
    gold = await client.get("/v1/credit-statuses", params={"customer_class": "gold"})
    assert [s["customer_no"] for s in gold.json()["items"]] == ["C-4"]
    assert (await client.get("/v1/credit-statuses", params={"cursor": "nonsense"})).status_code == 422
