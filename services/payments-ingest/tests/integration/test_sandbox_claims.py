"""A sandbox creditor's claims (docs/adr/0015) over the real PostgreSQL and broker: never issued
to a bank as a bank claim, never in the reference index, so a real bank file's transfer naming a
sandbox claim's reference stays unmatched for an operator instead of paying it."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from krafa_events import PaymentReceived, PaymentUnmatched
from krafa_events.references import rf_from
from krafa_events.testing import a_claim_created
from krafa_kit.testing import TopicReader, eventually
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from .conftest import NOW, PaymentsIngest
from .test_bank_claims import created

pytestmark = pytest.mark.integration

IBAN = "IS140159260076545510730339"


async def test_a_sandbox_claim_is_neither_issued_nor_indexed_nor_paid_by_a_bank_file(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    live = a_claim_created(reference=rf_from(300_001), invoice_no="LIVE")
    sandbox_snapshot = live.creditor.model_copy(update={"name": "Fram (sandbox)", "sandbox": True})
    trial = a_claim_created(reference=rf_from(300_002), invoice_no="TRIAL", creditor=sandbox_snapshot)
    bank_claim = created(7)
    trial_bank_claim = created(8).model_copy(
        update={"creditor": bank_claim.creditor.model_copy(update={"sandbox": True})}
    )
    await payments_ingest.publish(trial, trial_bank_claim, live, bank_claim)

    async def consumed() -> bool:
        return await payments_ingest.count("SELECT count(*) FROM inbox") == 4

    await eventually(consumed, timeout=60)
    assert await payments_ingest.count("SELECT count(*) FROM claim_index") == 2
    assert await payments_ingest.count("SELECT count(*) FROM claim_index WHERE claim_id = $1", trial.claim_id) == 0
    issued = await payments_ingest.count("SELECT count(*) FROM bank_claims WHERE claim_id = $1", bank_claim.claim_id)
    not_issued = await payments_ingest.count(
        "SELECT count(*) FROM bank_claims WHERE claim_id = $1", trial_bank_claim.claim_id
    )
    assert (issued, not_issued) == (1, 0)

    def credit(reference: str, bank_ref: str) -> GeneratedCredit:
        return GeneratedCredit(
            amount_minor=10_390, currency="ISK", reference=reference, booking_date=date(2026, 3, 5),
            bank_ref=bank_ref, debtor_name="Jón Jónsson",
        )  # fmt: skip

    file = camt054(
        (credit(live.reference, "B-1"), credit(trial.reference, "B-2")),
        account_iban=IBAN,
        msg_id="MSG-SANDBOX",
        created=datetime(2026, 3, 5, 8, tzinfo=NOW.tzinfo),
    )
    async with payments_ingest.client() as client:
        imported = await client.post("/v1/payments/files", content=file, headers={"Content-Type": "application/xml"})
    assert imported.status_code == 201, imported.text
    assert (imported.json()["matched"], imported.json()["unmatched"]) == (1, 1)
    await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
    [received] = payments_topic.of_type(PaymentReceived)
    [unmatched] = payments_topic.of_type(PaymentUnmatched)
    assert received.claim_id == live.claim_id
    assert unmatched.reference == trial.reference and unmatched.reason == "unknown_reference"
