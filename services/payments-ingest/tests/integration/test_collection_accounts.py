"""Two creditors whose debtors type the same invoice number: the account a payment was made into
decides whose claim it pays, and the operator queue says in words why a payment waits."""

from __future__ import annotations

from datetime import datetime

import pytest
from krafa_events import CreditorSnapshot, PaymentReceived
from krafa_events.references import rf_from
from krafa_events.testing import a_claim_created
from krafa_kit.testing import TopicReader, eventually
from krafa_payments_ingest.parsers.generate import camt054

from .conftest import NOW, PaymentsIngest
from .test_payments_flow import a_credit

pytestmark = pytest.mark.integration

FRAM_IBAN = "IS140159260076545510730339"  # 0159-26-007654
VALUR_IBAN = "IS850133260123455510730339"  # 0133-26-012345
ELSEWHERE_IBAN = "IS620515260098765510730339"  # an account neither collects on


def paid_into(iban: str, *credits: object, msg_id: str) -> bytes:
    return camt054(credits, account_iban=iban, msg_id=msg_id, created=datetime(2026, 3, 5, 8, tzinfo=NOW.tzinfo))  # type: ignore[arg-type]


async def test_the_account_paid_into_picks_the_creditor(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    fram = a_claim_created(
        reference=rf_from(200_001),
        invoice_no="2026-1042",
        creditor=CreditorSnapshot(name="Fram", payment_account="0159-26-007654"),
    )
    valur = a_claim_created(
        reference=rf_from(200_002),
        invoice_no="2026-1042",
        creditor=CreditorSnapshot(name="Valur", payment_account="IS85 0133 2601 2345 5510 7303 39"),
    )
    await payments_ingest.publish(fram, valur)
    await payments_ingest.wait_indexed(2)
    async with payments_ingest.client() as client:
        for iban, msg_id in ((FRAM_IBAN, "F-1"), (VALUR_IBAN, "V-1")):
            # The same text in both: "2026-1042" names a claim of each creditor.
            body = paid_into(
                iban, a_credit(1_000, None, f"{msg_id}-a", remittance_text="reikningur 2026-1042"), msg_id=msg_id
            )
            answer = await client.post("/v1/payments/files", content=body, headers={"Content-Type": "application/xml"})
            assert answer.status_code == 201 and answer.json()["matched"] == 1, answer.text
        # Valur's reference paid into an account neither collects on waits, explained.
        stray = paid_into(ELSEWHERE_IBAN, a_credit(2_000, valur.reference, "S-1"), msg_id="S-1")
        answer = await client.post("/v1/payments/files", content=stray, headers={"Content-Type": "application/xml"})
        assert answer.json()["unmatched"] == 1
        # A notification says the account itself.
        note = await client.post(
            "/v1/payments/notifications",
            json={"id": "N-1", "amount_minor": 3_000, "currency": "ISK", "reference": None,
                  "remittance_text": "2026-1042", "account": "0133-26-012345"},
        )  # fmt: skip
        assert note.status_code == 201 and note.json()["matched"] == 1, note.text
        queue = (await client.get("/v1/payments/unmatched")).json()["items"]
    await eventually(lambda: len(payments_topic.of_type(PaymentReceived)) >= 3, timeout=60)
    by_creditor = sorted((e.bank_ref or "", e.claim_id) for e in payments_topic.of_type(PaymentReceived))
    assert by_creditor == sorted([("F-1-a", fram.claim_id), ("V-1-a", valur.claim_id), ("N-1", valur.claim_id)])
    [waiting] = queue
    assert waiting["reason"] == "account_mismatch"
    assert waiting["account"] == "051526009876"  # 0515-26-009876, compared in that form
    assert str(valur.claim_id) in waiting["explanation"] and "collection account" in waiting["explanation"]
    assert [c["claim_id"] for c in waiting["candidates"]] == [str(valur.claim_id)]
    assert waiting["candidates"][0]["account"] == "013326012345"


async def test_without_the_account_an_invoice_number_of_two_creditors_waits_explained(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    a = a_claim_created(reference=rf_from(200_011), invoice_no="2026-2077")
    b = a_claim_created(reference=rf_from(200_012), invoice_no="2026-2077")
    await payments_ingest.publish(a, b)
    await payments_ingest.wait_indexed(2)
    async with payments_ingest.client() as client:
        note = await client.post(
            "/v1/payments/notifications",
            json={
                "id": "N-2",
                "amount_minor": 3_000,
                "currency": "ISK",
                "reference": None,
                "remittance_text": "2026-2077",
            },
        )
        assert note.json()["unmatched"] == 1
        [waiting] = (await client.get("/v1/payments/unmatched")).json()["items"]
    assert waiting["reason"] == "ambiguous_reference"
    assert {c["claim_id"] for c in waiting["candidates"]} == {str(a.claim_id), str(b.claim_id)}
    assert "never guessed" in waiting["explanation"]
