"""A credit charged back (camt DBIT entry with RvslInd true) reverses the payment its bank
references name: a negative PaymentReceived for the same claim, once."""

from __future__ import annotations

from typing import Any

import pytest
from krafa_events import PaymentReceived
from krafa_kit.testing import TopicReader, eventually

from .conftest import PaymentsIngest
from .test_payments_flow import a_claim, a_credit, a_notification

pytestmark = pytest.mark.integration

CREDIT_ENTRY = b"<CdtDbtInd>CRDT</CdtDbtInd>\n<Sts>"
CHARGE_BACK_ENTRY = b"<CdtDbtInd>DBIT</CdtDbtInd>\n<RvslInd>true</RvslInd>\n<Sts>"


def charged_back(notification: bytes) -> bytes:
    """The notification with every entry turned into a credit charged back."""
    assert CREDIT_ENTRY in notification
    return notification.replace(CREDIT_ENTRY, CHARGE_BACK_ENTRY)


async def test_charge_back_reverses_the_payment_once(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    claim = a_claim(100_041)
    await payments_ingest.publish(claim)
    await payments_ingest.wait_indexed(1)
    paid = a_notification(a_credit(10_390, claim.reference, "R-1"))
    reversal = charged_back(a_notification(a_credit(10_390, claim.reference, "R-1"), msg_id="MSG-2"))
    never_paid = charged_back(a_notification(a_credit(777, None, "R-9"), msg_id="MSG-3"))
    async with payments_ingest.client() as client:

        async def upload(data: bytes) -> dict[str, int]:
            response = await client.post("/v1/payments/files", content=data, headers={"Content-Type": "text/xml"})
            assert response.status_code in (200, 201), response.text
            body: dict[str, int] = response.json()
            return body

        assert (await upload(paid))["matched"] == 1
        first = await upload(reversal)
        assert (first["entries"], first["new"], first["reversals"]) == (0, 0, 1)
        assert (await upload(reversal))["reversals"] == 0  # the same file again
        again = charged_back(a_notification(a_credit(10_390, claim.reference, "R-1"), msg_id="MSG-4"))
        assert (await upload(again))["reversals"] == 0  # recorded already: not reversed twice
        assert (await upload(never_paid))["reversals"] == 0  # nothing of ours to reverse: a debit
        summary = (await client.get(f"/v1/payments/imports/{first['import_id']}")).json()
        assert summary["reversals"] == 1

    await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
    await payments_ingest.wait_published()
    received = payments_topic.of_type(PaymentReceived)
    assert [(e.claim_id, e.amount_minor) for e in received] == [(claim.claim_id, 10_390), (claim.claim_id, -10_390)]
    assert received[1].source == str(first["import_id"])
    assert len(payments_topic.events) == 2
    assert await payments_ingest.count("SELECT count(*) FROM payments WHERE reversal_of IS NOT NULL") == 1


def mt940(*lines: str, statement: str) -> bytes:
    head = [f":20:{statement}", ":25:IS140159260076545510730339", ":28C:1/1", ":60F:C260305ISK0,"]
    return ("\n".join([*head, *lines, ":62F:C260306ISK0,", "-"]) + "\n").encode()


async def test_mt940_reversal_of_a_credit_undoes_the_payment_once(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    """A SEPA return in MT940 (:61: mark RC) names the credit it reverses by its end-to-end id
    (the bank gives the return its own bank reference): a negative PaymentReceived for the
    claim, once, whichever statement repeats it."""
    claim = a_claim(100_042)
    await payments_ingest.publish(claim)
    await payments_ingest.wait_indexed(1)
    structured = f"/REMI/STRD/CUR/{claim.reference}/"
    paid = mt940(":61:2603050305C10390,NTRFE2E-MT-1//B-100", f":86:/EREF/E2E-MT-1{structured}", statement="S1")
    returned = [":61:2603060306RC10390,NRTIE2E-MT-1//B-200", f":86:/RTRN/MS03/EREF/E2E-MT-1{structured}"]
    reversal = mt940(*returned, statement="S2")
    # The next statement repeats the return (overlap) beside an unrelated debit.
    overlapping = mt940(*returned, ":61:260306D500,NTRFNONREF", statement="S3")
    async with payments_ingest.client() as client:

        async def upload(data: bytes) -> dict[str, Any]:
            response = await client.post("/v1/payments/files", content=data, headers={"Content-Type": "text/plain"})
            assert response.status_code in (200, 201), response.text
            body: dict[str, Any] = response.json()
            return body

        first = await upload(paid)
        assert (first["format"], first["matched"]) == ("mt940", 1)
        undone = await upload(reversal)
        assert (undone["entries"], undone["new"], undone["reversals"]) == (0, 0, 1)
        assert (await upload(reversal))["reversals"] == 0  # the same file again
        assert (await upload(overlapping))["reversals"] == 0  # the same return in the next statement

    await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
    await payments_ingest.wait_published()
    received = payments_topic.of_type(PaymentReceived)
    assert [(e.claim_id, e.amount_minor) for e in received] == [(claim.claim_id, 10_390), (claim.claim_id, -10_390)]
    assert received[1].bank_ref == "B-200"
    assert len(payments_topic.events) == 2
    assert await payments_ingest.count("SELECT count(*) FROM payments WHERE reversal_of IS NOT NULL") == 1
