"""Claim watch (kröfuvakt) through claims-api over the real PostgreSQL and broker: once the
scheduler says a claim is in claim watch, every payment it receives is shared between the
creditor and the collection agency by the agency's terms — booked on the payment's ledger entry,
summed on the ledger, and deducted from the creditor's settlement as the agency's commission. A
payment from before the watch, and an overpayment, are the creditor's (or the debtor's) alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from krafa_events import PaymentReceived
from krafa_events.catalog import ClaimWatchStarted
from krafa_kit.testing import eventually, publish

from .conftest import Api, claim_body

pytestmark = [pytest.mark.integration, pytest.mark.consumes]


async def test_payments_in_claim_watch_are_split_and_the_agency_share_settled(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390)
    claim = (await client.post("/v1/claims", json=claim_body("INV-W", 10_000))).json()
    claim_id, debtor = uuid.UUID(claim["id"]), uuid.UUID(claim["debtor_id"])
    started = datetime.now(UTC) - timedelta(days=5)

    def paid(amount: int, at: datetime) -> PaymentReceived:
        return PaymentReceived(
            creditor_id=creditor_id,
            debtor_id=debtor,
            claim_id=claim_id,
            payment_id=uuid.uuid4(),
            amount_minor=amount,
            currency="ISK",
            reference=claim["reference"],
            booking_date=None,
            value_date=None,
            bank_ref=f"B{amount}",
            source="test",
            received_at=at,
        )

    async def ledger() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get(f"/v1/claims/{claim_id}/ledger")).json()
        return body

    async def payments(n: int) -> bool:
        return len([e for e in (await ledger())["entries"] if e["kind"] in ("payment", "reversal")]) >= n

    async def settlement() -> list[tuple[str, int, str]]:
        async with api.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT kind, amount_minor, source_id FROM settlement_entries WHERE claim_id = $1 ORDER BY id", claim_id
            )
        return [(r["kind"], r["amount_minor"], r["source_id"]) for r in rows]

    # Paid 1,000 a week before the watch: the creditor's alone, however late it is booked.
    await publish(broker, paid(1_000, started - timedelta(days=2)))
    await eventually(lambda: payments(1), timeout=60)

    await publish(
        broker,
        ClaimWatchStarted(
            creditor_id=creditor_id,
            debtor_id=debtor,
            claim_id=claim_id,
            creditor_share_pct=50,
            interval_days=90,
            started_at=started,
        ),
    )

    async def watched() -> bool:
        return (await client.get(f"/v1/claims/{claim_id}")).json().get("stage") == "watch"

    await eventually(watched, timeout=60)

    # 3,001 in claim watch: 1,501 to the creditor, 1,500 to the agency (the odd króna to the creditor).
    await publish(broker, paid(3_001, started + timedelta(days=1)))
    await eventually(lambda: payments(2), timeout=60)
    # Reversed: both shares are taken back.
    await publish(broker, paid(-3_001, started + timedelta(days=2)))
    await eventually(lambda: payments(3), timeout=60)
    # The rest, 9,390 (10,000 + the 390 slip fee − 1,000), and 10 too much: 9,390 is split, the 10 is
    # the debtor's overpayment.
    await publish(broker, paid(9_400, started + timedelta(days=3)))
    await eventually(lambda: payments(4), timeout=60)

    book = await ledger()
    entries = [e for e in book["entries"] if e["kind"] in ("payment", "reversal")]
    splits = [e["details"].get("watch_split") for e in entries]
    assert splits[0] is None
    assert [(s["collected_minor"], s["creditor_minor"], s["agency_minor"]) for s in splits[1:]] == [
        (3_001, 1_501, 1_500),
        (-3_001, -1_501, -1_500),
        (9_390, 4_695, 4_695),
    ]
    assert all(s["creditor_share_pct"] == 50 for s in splits[1:])
    assert book["agency_commission_minor"] == 4_695
    assert book["payments_minor"] == 1_000 + 9_400 and book["overpaid_minor"] == 10 and book["balance_minor"] == 0
    # The agency's commission comes off the creditor's settlement, payment by payment.
    kinds = await settlement()
    assert [(k, a) for k, a, _ in kinds] == [
        ("watch_commission", -1_500),
        ("watch_commission", 1_500),
        ("watch_commission", -4_695),
    ]
    assert len({s for _, _, s in kinds}) == 3
    assert (await client.get(f"/v1/claims/{claim_id}")).json()["status"] == "paid"
