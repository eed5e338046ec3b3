"""Events from other services and the signed webhooks they cause, against a real local HTTP
receiver that verifies every Standard Webhooks signature: CreditorNoticeDue → claim.handover_pending,
a dispute → claim.disputed (first answered 500, then retried), a payment → claim.paid,
PaymentUnmatched → payment.unmatched; ClaimEscalated and ClaimWatchStarted set the stage; call
outcomes dispute, defer and split claims; a failed card instalment becomes one payment slip, and
an unknown customer goes to the DLQ."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from krafa_claims_api import webhooks
from krafa_events import ClaimCreated, EmailBounced, PaymentReceived, PaymentUnmatched
from krafa_events.catalog import (
    CallOutcomeRecorded,
    CardInstalmentFailed,
    ClaimDeferred,
    ClaimDisputed,
    ClaimEscalated,
    ClaimInstalmentPlanAgreed,
    ClaimWatchStarted,
    CreditorNoticeDue,
    Instalment,
    ReminderDelivered,
)
from krafa_kit.testing import TopicReader, eventually, publish, serving

from .conftest import Api, claim_body

pytestmark = [pytest.mark.integration, pytest.mark.consumes]


class Receiver:
    """An ERP's webhook endpoint: verifies each signature, fails the first N calls."""

    def __init__(self, fail_first: int) -> None:
        self.secret = ""
        self.fail_first = fail_first
        self.calls = 0
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.calls += 1
            body = await request.body()
            if not webhooks.verify(self.secret, dict(request.headers), body):
                self.rejected += 1
                return Response(status_code=401)
            if self.calls <= self.fail_first:
                return Response(status_code=500)
            self.received.append({"id": request.headers["webhook-id"], **json.loads(body)})
            return Response(status_code=204)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]


async def test_events_become_history_lifecycle_changes_and_signed_webhooks(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    api.app.state.webhook_worker.retry_delays_s = (0.2, 0.2, 0.2)
    api.app.state.webhook_worker.poll_interval_s = 0.1
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390)
    _, stranger = await api.creditor("Valur")
    receiver = Receiver(fail_first=1)
    async with serving(receiver.app) as base:
        created = await client.post("/v1/webhooks", json={"url": f"{base}/hook", "description": "ERP"})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        receiver.secret = endpoint["secret"]
        assert endpoint["secret"].startswith("whsec_")
        listed = (await client.get("/v1/webhooks")).json()["items"]
        assert [w["id"] for w in listed] == [endpoint["id"]] and "secret" not in listed[0]
        assert (await stranger.get("/v1/webhooks")).json()["items"] == []

        claims = [
            (await client.post("/v1/claims", json=claim_body(f"INV-{i}", customer_no=f"C-{i}"))).json()
            for i in range(5)
        ]
        ids = [uuid.UUID(c["id"]) for c in claims]
        debtor = uuid.UUID(claims[0]["debtor_id"])
        now = datetime.now(UTC)

        # The dispute webhook: the first delivery answers 500, the retry succeeds.
        await client.post(f"/v1/claims/{claims[0]['id']}/dispute", json={"reason": "never ordered"})
        await eventually(lambda: receiver.of_type("claim.disputed"), timeout=60)

        async with TopicReader(broker, "krafa.claims") as reader:
            await publish(
                broker,
                CreditorNoticeDue(
                    creditor_id=creditor_id,
                    debtor_id=debtor,
                    notice_id=uuid.uuid4(),
                    claim_ids=(ids[1], ids[2]),
                    handover_at=now + timedelta(days=1),
                    noticed_at=now,
                ),
                ClaimEscalated(
                    creditor_id=creditor_id, debtor_id=debtor, claim_id=ids[1], stage="collection", escalated_at=now
                ),
                ClaimWatchStarted(
                    creditor_id=creditor_id, debtor_id=debtor, claim_id=ids[2], interval_days=30, started_at=now
                ),
                ReminderDelivered(
                    creditor_id=creditor_id,
                    debtor_id=debtor,
                    delivery_id=uuid.uuid4(),
                    reminder_id=uuid.uuid4(),
                    claim_ids=(ids[1],),
                    channel="sms",
                    delivered_at=now,
                ),
                # A call: claim 3 promises to pay on a date, claim 4 agrees a plan, claim 1 disputes.
                _call(creditor_id, debtor, ids[3], "promise_to_pay", now, promised_date=date(2027, 1, 15)),
                _call(
                    creditor_id,
                    debtor,
                    ids[4],
                    "instalments",
                    now,
                    instalments=(
                        Instalment(due_date=date(2027, 1, 1), amount_minor=5195),
                        Instalment(due_date=date(2027, 2, 1), amount_minor=5195),
                    ),
                ),
                _call(creditor_id, debtor, ids[1], "dispute", now, note="says it was paid in cash"),
                # Another creditor's notice naming our claim changes nothing.
                CreditorNoticeDue(
                    creditor_id=uuid.uuid4(),
                    debtor_id=debtor,
                    notice_id=uuid.uuid4(),
                    claim_ids=(ids[3],),
                    handover_at=now,
                    noticed_at=now,
                ),
                PaymentUnmatched(
                    creditor_id=creditor_id,
                    debtor_id=uuid.UUID(int=0),
                    payment_id=uuid.uuid4(),
                    amount_minor=4_200,
                    currency="ISK",
                    reference="RF000",
                    remittance_text="æfingagjöld",
                    booking_date=date(2026, 2, 3),
                    bank_ref="B9",
                    reason="no claim with this reference",
                    received_at=now,
                ),
                # A hard bounce: the creditor hears of it once, so they can fix their list.
                *[
                    EmailBounced(
                        creditor_id=creditor_id,
                        debtor_id=debtor,
                        bounce_id=uuid.uuid4(),
                        delivery_id=uuid.uuid4(),
                        reminder_id=uuid.uuid4(),
                        claim_ids=(ids[0],),
                        step=1,
                        recipient="JON@example.is",
                        kind="hard",
                        status="5.1.1",
                        reason="mailbox does not exist",
                        bounced_at=now,
                    )
                    for _ in range(2)
                ],
                PaymentReceived(
                    creditor_id=creditor_id,
                    debtor_id=debtor,
                    claim_id=ids[2],
                    payment_id=uuid.uuid4(),
                    amount_minor=10_390,
                    currency="ISK",
                    reference=claims[2]["reference"],
                    booking_date=None,
                    value_date=None,
                    bank_ref="B1",
                    source="test",
                    received_at=now,
                ),
            )
            await eventually(
                lambda: (
                    {"claim.handover_pending", "payment.unmatched", "claim.paid", "contact.bounced"}
                    <= {m["type"] for m in receiver.received}
                    and len(receiver.of_type("claim.disputed")) == 2
                ),
                timeout=60,
            )
            await eventually(
                lambda: (
                    reader.of_type(ClaimDeferred)
                    and reader.of_type(ClaimInstalmentPlanAgreed)
                    and len(reader.of_type(ClaimDisputed)) == 2
                ),
                timeout=60,
            )

        handover = receiver.of_type("claim.handover_pending")
        assert len(handover) == 1
        assert {c["claim_id"] for c in handover[0]["data"]["claims"]} == {str(ids[1]), str(ids[2])}
        assert receiver.of_type("payment.unmatched")[0]["data"]["amount_minor"] == 4_200
        bounced = receiver.of_type("contact.bounced")
        assert len(bounced) == 1, bounced  # the second bounce changed nothing, so no second webhook
        assert bounced[0]["data"]["address"] == "JON@example.is" and bounced[0]["data"]["status"] == "5.1.1"
        assert receiver.of_type("claim.paid")[0]["data"]["claim_id"] == str(ids[2])
        assert receiver.rejected == 0  # every signature verified

        got = {c: (await client.get(f"/v1/claims/{c}")).json() for c in ids}
        assert got[ids[1]]["stage"] == "collection" and got[ids[1]]["status"] == "disputed"
        assert got[ids[2]]["stage"] == "watch" and got[ids[2]]["status"] == "paid"
        assert got[ids[3]]["due_date"] == "2027-01-15" and got[ids[3]]["status"] == "open"
        assert [i["amount_minor"] for i in got[ids[4]]["instalments"]] == [5195, 5195]
        timeline = (await client.get(f"/v1/claims/{ids[1]}/timeline")).json()["items"]
        delivered = next(i for i in timeline if i["kind"] == "reminder_delivered")
        assert delivered["channel"] == "sms"
        # The creditor can follow the link with its own key; another creditor cannot.
        followed = (await client.get(delivered["content_link"])).json()
        assert followed["channel"] == "sms" and followed["delivered_at"] is not None
        assert delivered["event_id"] in {e["event_id"] for e in followed["events"]}
        assert (await stranger.get(delivered["content_link"])).status_code == 404
        assert {"handover_notice", "escalated", "call_outcome", "dispute"} <= {i["kind"] for i in timeline}

        # The delivery log: the disputed webhook took two attempts (500, then 204).
        async def first_delivery() -> dict[str, Any] | None:
            log = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
            first = next(d for d in log if d["payload"]["data"].get("claim_id") == claims[0]["id"])
            return first if first["status"] == "delivered" else None

        first = await eventually(first_delivery, timeout=60)
        assert first["attempts"] == 2
        assert [a["status_code"] for a in first["attempt_log"]] == [500, 204]
        assert (await stranger.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).status_code == 404

        # Disabled endpoints get nothing more.
        assert (await client.delete(f"/v1/webhooks/{endpoint['id']}")).json()["disabled_at"] is not None
        late = await client.post(f"/v1/claims/{claims[3]['id']}/dispute", json={"reason": "x"})
        assert late.json()["status"] == "disputed"
        async with api.db.connection() as conn:
            queued = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE payload->'data'->>'claim_id' = $1", claims[3]["id"]
            )
        assert queued == 0


async def test_failed_card_instalment_becomes_one_payment_slip(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390)
    claim = (await client.post("/v1/claims", json=claim_body(customer_no="C-77"))).json()
    failure = CardInstalmentFailed(
        creditor_id=creditor_id,
        debtor_id=uuid.UUID(claim["debtor_id"]),
        failure_id=uuid.uuid4(),
        customer_no="C-77",
        agreement_ref="AGR-9",
        instalment_no=3,
        amount_minor=12_000,
        currency="ISK",
        reason="insufficient funds",
        failed_at=datetime.now(UTC),
    )
    unknown = failure.model_copy(update={"failure_id": uuid.uuid4(), "customer_no": "NOBODY"})
    async with TopicReader(broker, "krafa.claims", "krafa.payments.dlq") as reader:
        # The same failure twice (a replay under a new event id) creates one slip.
        await publish(broker, failure, failure.model_copy(), unknown)
        await eventually(lambda: len(reader.of_type(ClaimCreated)) >= 2 and _dead_letters(reader), timeout=60)
        slips = [e for e in reader.of_type(ClaimCreated) if e.invoice_no == "CARD-AGR-9-3"]
        assert len(slips) == 1
        slip = slips[0]
        today = datetime.now(UTC).date()
        assert slip.due_date == slip.final_due_date == today
        assert (slip.amount_minor, slip.fees_minor) == (12_000, 390)
        assert str(slip.debtor_id) == claim["debtor_id"]
    listed = (await client.get("/v1/claims", params={"customer_no": "C-77"})).json()["items"]
    assert sorted(c["invoice_no"] for c in listed) == ["CARD-AGR-9-3", "INV-1"]
    assert next(c for c in listed if c["invoice_no"] == "CARD-AGR-9-3")["balance_minor"] == 12_390


def _call(
    creditor_id: uuid.UUID,
    debtor_id: uuid.UUID,
    claim_id: uuid.UUID,
    outcome: Any,
    now: datetime,
    **extra: Any,
) -> CallOutcomeRecorded:
    return CallOutcomeRecorded(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        task_id=uuid.uuid4(),
        reminder_id=uuid.uuid4(),
        claim_ids=(claim_id,),
        outcome=outcome,
        agent="anna",
        recorded_at=now,
        **extra,
    )


def _dead_letters(reader: TopicReader) -> list[Any]:
    return [r for r in reader.raw if getattr(r, "topic", "") == "krafa.payments.dlq"]
