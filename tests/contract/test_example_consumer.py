"""The integrator example in examples/ works against a real broker: it prints a published
PaymentReceived with its amount, claim and event id, and skips other types and garbage."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from krafa_events import PaymentUnmatched
from krafa_events.testing import a_claim_created, a_payment_received
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import publish

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments_consumer.py"


async def test_example_consumer_prints_payments(broker: EmbeddedBroker) -> None:
    claim = a_claim_created(currency="ISK", amount_minor=4500, fees_minor=0)
    unmatched = PaymentUnmatched.model_validate(
        {
            "creditor_id": uuid.UUID(int=0),
            "debtor_id": uuid.UUID(int=0),
            "payment_id": uuid.uuid4(),
            "amount_minor": 100,
            "currency": "ISK",
            "reference": None,
            "remittance_text": None,
            "booking_date": None,
            "bank_ref": None,
            "reason": "no_reference",
            "received_at": "2026-03-05T10:00:00Z",
        }
    )
    payment = a_payment_received(claim)
    euro = a_payment_received(a_claim_created(currency="EUR", amount_minor=12345, fees_minor=0))
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:  # not a CloudEvent: the example must skip it, not crash
        await producer.send_and_wait("krafa.payments", b"garbage", key=b"x")
    finally:
        await producer.stop()
    first_id, _, euro_id = await publish(broker.bootstrap, payment, unmatched, euro)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--bootstrap",
        broker.bootstrap,
        "--from-beginning",
        "--max",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert len(lines) == 2, lines
    # Different debtors land on different partitions: no order between the two.
    isk = next(line for line in lines if str(claim.claim_id) in line)
    eur = next(line for line in lines if line is not isk)
    assert "payment 4,500 ISK" in isk and first_id in isk and claim.reference in isk and "2026-03-05" in isk
    assert "payment 123.45 EUR" in eur and euro_id in eur
