"""Payments notified by a real-time source as JSON: matched and evented like a bank file's
entries, applied once per source id, and refused as RFC 9457 problems when malformed."""

from __future__ import annotations

from datetime import date

import pytest
from krafa_events import PaymentReceived, PaymentUnmatched
from krafa_kit.testing import TopicReader, eventually

from .conftest import PaymentsIngest
from .test_payments_flow import UNKNOWN_REFERENCE, a_claim

pytestmark = pytest.mark.integration


async def test_notifications_are_matched_once_per_source_id(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    claim, by_text = a_claim(100_051), a_claim(100_052)
    await payments_ingest.publish(claim, by_text)
    await payments_ingest.wait_indexed(2)
    batch = [
        {"id": "pay-1", "amount_minor": 10_390, "currency": "ISK", "reference": claim.reference,
         "booked_at": "2026-03-05T23:30:00+00:00", "payer_account": "IS750116260000000000000000"},
        {"id": "pay-2", "amount_minor": 500, "currency": "ISK", "reference": None,
         "remittance_text": "for INV-100052", "booked_at": "2026-03-04"},
        {"id": "pay-3", "amount_minor": 900, "currency": "ISK", "reference": UNKNOWN_REFERENCE},
    ]  # fmt: skip
    async with payments_ingest.client() as client:
        first = await client.post("/v1/payments/notifications", json=batch)
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["format"], body["entries"], body["new"], body["matched"], body["unmatched"]) == ("api", 3, 3, 2, 1)
        assert first.headers["location"] == f"/v1/payments/imports/{body['import_id']}"

        again = await client.post("/v1/payments/notifications", json=batch[0])
        assert again.status_code == 200, again.text
        assert (again.json()["new"], again.json()["duplicates"]) == (0, 1)
        mixed = await client.post(
            "/v1/payments/notifications",
            json=[batch[1], {"id": "pay-4", "amount_minor": 1, "currency": "EUR", "reference": None}],
        )
        assert mixed.status_code == 201, mixed.text
        assert (mixed.json()["new"], mixed.json()["duplicates"]) == (1, 1)

    await eventually(lambda: len(payments_topic.events) >= 4, timeout=60)
    await payments_ingest.wait_published()
    assert len(payments_topic.events) == 4
    received = {event.amount_minor: event for event in payments_topic.of_type(PaymentReceived)}
    assert received[10_390].claim_id == claim.claim_id
    assert received[10_390].booking_date == date(2026, 3, 5)
    assert (received[10_390].source, received[10_390].bank_ref) == ("api", "pay-1")
    assert received[500].claim_id == by_text.claim_id
    assert received[500].booking_date == date(2026, 3, 4)
    unmatched = {event.amount_minor: event.reason for event in payments_topic.of_type(PaymentUnmatched)}
    assert unmatched == {900: "unknown_reference", 1: "no_reference"}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "amount_minor": 1, "currency": "ISK", "reference": None, "iban": "IS1"},  # unknown field
        {"amount_minor": 1, "currency": "ISK", "reference": None},  # no id
        {"id": "x", "amount_minor": "12x", "currency": "ISK", "reference": None},
        {"id": "x", "amount_minor": 1, "currency": "isk", "reference": None},
        {"id": "x", "amount_minor": 1, "currency": "ISK", "reference": None, "booked_at": "2026-03-05T10:00:00"},
        [],
        [{"id": "x", "amount_minor": 1, "currency": "ISK", "reference": None}] * 2,  # one id twice
    ],
)
async def test_invalid_notifications_are_problems_and_nothing_is_applied(
    operator_api: PaymentsIngest, body: object
) -> None:
    async with operator_api.client() as client:
        response = await client.post("/v1/payments/notifications", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Validation failed"
    assert await operator_api.count("SELECT count(*) FROM payments") == 0
    assert await operator_api.count("SELECT count(*) FROM imports") == 0
