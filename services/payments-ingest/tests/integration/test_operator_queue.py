"""Operators work the queue: match an unmatched payment to a claim (PaymentReceived) or ask for
its refund; either way it leaves the queue, once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from krafa_events import PaymentReceived, PaymentUnmatched
from krafa_kit.testing import TopicReader, eventually

from .conftest import NOW, PaymentsIngest
from .test_payments_flow import UNKNOWN_REFERENCE, a_claim, a_credit, a_notification

pytestmark = pytest.mark.integration


async def test_operator_matches_one_payment_and_refunds_another(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    claim, euro = a_claim(100_071), a_claim(100_072, currency="EUR")
    await payments_ingest.publish(claim, euro)
    await payments_ingest.wait_indexed(2)
    notification = a_notification(
        a_credit(10_390, UNKNOWN_REFERENCE, "Q-1"), a_credit(50, None, "Q-2"), a_credit(10_390, claim.reference, "Q-3")
    )
    async with payments_ingest.client() as client:
        response = await client.post("/v1/payments/files", content=notification, headers={"Content-Type": "text/xml"})
        assert response.status_code == 201, response.text
        await eventually(lambda: len(payments_topic.events) >= 3, timeout=60)
        queued = {e.bank_ref: e.payment_id for e in payments_topic.of_type(PaymentUnmatched)}
        [auto] = [e.payment_id for e in payments_topic.of_type(PaymentReceived)]
        to_match, to_refund = queued["Q-1"], queued["Q-2"]

        async def act(
            payment_id: uuid.UUID, action: str, claim_id: uuid.UUID | None = None
        ) -> tuple[int, dict[str, Any]]:
            body = {"claim_id": str(claim_id)} if claim_id else None
            answer = await client.post(f"/v1/payments/unmatched/{payment_id}/{action}", json=body)
            return answer.status_code, answer.json()

        status, problem = await act(to_match, "match", euro.claim_id)  # another currency
        assert (status, problem["title"]) == (422, "Validation failed")
        assert (await act(to_match, "match", uuid.uuid4()))[0] == 422  # not indexed
        status, matched = await act(to_match, "match", claim.claim_id)
        assert status == 200, matched
        assert matched == {"payment_id": str(to_match), "state": "matched", "claim_id": str(claim.claim_id),
                           "handled_at": NOW.isoformat().replace("+00:00", "Z")}  # fmt: skip
        assert (await act(to_match, "match", claim.claim_id))[0] == 409
        assert (await act(to_match, "refund"))[0] == 409

        status, refunded = await act(to_refund, "refund")
        assert (status, refunded["state"], refunded["claim_id"]) == (200, "refund_requested", None)
        assert (await act(to_refund, "refund"))[0] == 409
        assert (await act(to_refund, "match", claim.claim_id))[0] == 409

        assert (await act(uuid.uuid4(), "refund"))[0] == 404
        assert (await act(auto, "refund"))[0] == 404  # matched on import: never in the queue
        status, problem = await act(uuid.uuid4(), "match", claim.claim_id)
        assert (status, problem["title"]) == (404, "Not Found")

        queue = (await client.get("/v1/payments/unmatched")).json()
        assert queue["items"] == []

    await eventually(lambda: len(payments_topic.events) >= 4, timeout=60)
    await payments_ingest.wait_published()
    assert len(payments_topic.events) == 4
    by_operator = [e for e in payments_topic.of_type(PaymentReceived) if e.payment_id == to_match]
    assert [(e.claim_id, e.amount_minor, e.bank_ref) for e in by_operator] == [(claim.claim_id, 10_390, "Q-1")]
    assert by_operator[0].source == response.json()["import_id"]
