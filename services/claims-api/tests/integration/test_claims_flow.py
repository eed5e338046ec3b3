"""claims-api over the real PostgreSQL and broker: a claim posted over HTTP is stored with its
outbox row, published as ClaimCreated, and a PaymentReceived event settles it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from krafa_claims_api import service
from krafa_claims_api.api.schemas import CreditorIn
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings
from krafa_events import ClaimCreated, PaymentReceived, decode
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.kafka import create_producer
from krafa_kit.outbox import Outbox
from krafa_kit.testing import eventually, serving

pytestmark = pytest.mark.integration


def claim_body(invoice: str = "INV-1", amount: int = 10_000) -> dict[str, object]:
    return {
        "invoice_no": invoice,
        "amount_minor": amount,
        "currency": "ISK",
        "due_date": "2026-02-01",
        "debtor": {
            "customer_no": "C-1",
            "name": "Jón Jónsson",
            "country": "IS",
            "language": "is",
            "email": "jon@example.is",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    }


async def test_claim_created_published_and_paid(database_url: str, broker: EmbeddedBroker) -> None:
    settings = Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap)
    app = create_app(settings)
    async with serving(app) as base:
        runtime = app.state.runtime
        async with runtime.db.uow() as uow:
            creditor_id, key = await service.create_creditor(uow, CreditorIn(name="Fram", slip_fee_minor=390))
            await uow.commit()
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key.token}"}) as client:
            response = await client.post("/v1/claims", json=claim_body())
            assert response.status_code == 201, response.text
            claim = response.json()
            # The slip fee (seðilgjald) is added to what the debtor owes (docs/domain.md: Icelandic payment slips).
            assert claim["balance_minor"] == 10_390
            assert claim["final_due_date"] == "2026-02-11"
            assert claim["history"][0]["event_type"] == ClaimCreated.TYPE

            consumer = AIOKafkaConsumer(
                "krafa.claims", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id="t"
            )
            await consumer.start()
            try:
                record = await consumer.getone()
            finally:
                await consumer.stop()
            event = decode(list(record.headers), record.value).event
            assert isinstance(event, ClaimCreated)
            assert str(event.claim_id) == claim["id"]
            assert record.key == f"{creditor_id}:{event.debtor_id}".encode()

            producer = create_producer(settings)
            await producer.start()
            payment = PaymentReceived(
                creditor_id=creditor_id,
                debtor_id=event.debtor_id,
                claim_id=event.claim_id,
                payment_id=uuid.uuid4(),
                amount_minor=10_390,
                currency="ISK",
                reference=event.reference,
                booking_date=date(2026, 2, 3),
                value_date=date(2026, 2, 3),
                bank_ref="B1",
                source="test",
                received_at=datetime.now(UTC),
            )
            outbox = Outbox("/test")
            outbox.add(payment)
            encoded = outbox.pending[0]
            for _ in range(2):  # a redelivered event has no second effect
                await producer.send_and_wait(
                    encoded.topic, encoded.value, key=encoded.key, headers=list(encoded.headers)
                )
            await producer.stop()

            async def paid() -> bool:
                r = await client.get(f"/v1/claims/{claim['id']}")
                return r.json()["status"] == "paid"

            await eventually(paid, timeout=30)
            final = (await client.get(f"/v1/claims/{claim['id']}")).json()
            assert final["paid_minor"] == 10_390
            assert [h["event_type"] for h in final["history"]].count("krafa.payment.received.v1") == 1


async def test_other_creditors_claim_answers_404(database_url: str, broker: EmbeddedBroker) -> None:
    app = create_app(Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap, consume=False))
    async with serving(app) as base:
        db = app.state.runtime.db
        async with db.uow() as uow:
            _, key_a = await service.create_creditor(uow, CreditorIn(name="A"))
            _, key_b = await service.create_creditor(uow, CreditorIn(name="B"))
            await uow.commit()
        async with httpx.AsyncClient(base_url=base) as client:
            created = await client.post(
                "/v1/claims", json=claim_body(), headers={"Authorization": f"Bearer {key_a.token}"}
            )
            other = await client.get(
                f"/v1/claims/{created.json()['id']}", headers={"Authorization": f"Bearer {key_b.token}"}
            )
            assert other.status_code == 404
            assert other.headers["content-type"] == "application/problem+json"
            unauth = await client.get(f"/v1/claims/{created.json()['id']}")
            assert unauth.status_code == 401
