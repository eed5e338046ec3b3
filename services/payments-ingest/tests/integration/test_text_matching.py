"""A payment without a usable structured reference is matched by the invoice number or
reference its remittance text names, and never guessed onto one of several claims."""

from __future__ import annotations

import pytest
from krafa_events import PaymentReceived, PaymentUnmatched
from krafa_events.references import rf_from
from krafa_events.testing import a_claim_created
from krafa_kit.testing import TopicReader, eventually

from .conftest import PaymentsIngest
from .test_payments_flow import UNKNOWN_REFERENCE, a_claim, a_credit, a_notification

pytestmark = pytest.mark.integration


async def test_remittance_text_matches_by_invoice_number_or_reference(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    by_invoice, by_reference = a_claim(100_031), a_claim(100_032)
    shared_a = a_claim(100_033)
    shared_b = a_claim_created(reference=rf_from(100_034), invoice_no="INV-100033")  # same invoice no, another creditor
    await payments_ingest.publish(by_invoice, by_reference, shared_a, shared_b)
    await payments_ingest.wait_indexed(4)
    spaced = " ".join(rf_from(100_032)[i : i + 4] for i in range(0, len(rf_from(100_032)), 4)).lower()
    notification = a_notification(
        a_credit(1_000, None, "T-1", remittance_text="Greidsla inv-100031, takk"),
        a_credit(2_000, UNKNOWN_REFERENCE, "T-2", remittance_text=f"ref {spaced}"),
        a_credit(3_000, None, "T-3", remittance_text="INV-100033"),
        a_credit(4_000, None, "T-4", remittance_text="XINV-100031 and 100031"),
    )
    async with payments_ingest.client() as client:
        response = await client.post(
            "/v1/payments/files", content=notification, headers={"Content-Type": "application/xml"}
        )
    assert response.status_code == 201, response.text
    assert (response.json()["matched"], response.json()["unmatched"]) == (2, 2)
    await eventually(lambda: len(payments_topic.events) >= 4, timeout=60)
    received = {event.amount_minor: event for event in payments_topic.of_type(PaymentReceived)}
    assert received[1_000].claim_id == by_invoice.claim_id
    assert received[2_000].claim_id == by_reference.claim_id
    unmatched = {event.amount_minor: event.reason for event in payments_topic.of_type(PaymentUnmatched)}
    assert unmatched == {3_000: "ambiguous_reference", 4_000: "no_reference"}


async def test_a_queued_payment_is_matched_when_the_claim_its_text_names_arrives(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    early = a_notification(
        a_credit(1_100, None, "L-1", remittance_text="invoice inv-100091"),
        a_credit(1_200, UNKNOWN_REFERENCE, "L-2", remittance_text="for INV-100092"),
        a_credit(1_300, None, "L-3", remittance_text="INV-1000910"),
    )
    async with payments_ingest.client() as client:
        response = await client.post("/v1/payments/files", content=early, headers={"Content-Type": "text/xml"})
    assert response.status_code == 201 and response.json()["unmatched"] == 3, response.text
    await eventually(lambda: len(payments_topic.events) >= 3, timeout=60)

    claim, other = a_claim(100_091), a_claim(100_092, currency="EUR")  # names L-2, in another currency
    await payments_ingest.publish(other, claim)
    await payments_ingest.wait_indexed(2)
    await eventually(lambda: len(payments_topic.of_type(PaymentReceived)) >= 1, timeout=60)
    await payments_ingest.wait_published()
    [received] = payments_topic.of_type(PaymentReceived)
    assert (received.claim_id, received.amount_minor, received.bank_ref) == (claim.claim_id, 1_100, "L-1")
    assert received.source == response.json()["import_id"]
    assert await payments_ingest.count("SELECT count(*) FROM payments WHERE state = 'unmatched'") == 2
