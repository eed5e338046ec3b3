"""The idempotent consumer over the real broker and PostgreSQL: effects once per event id,
poison records to the dead-letter topic with the reason, and the consumer goes on; a fetched
round over several partitions is committed (effects, then every partition's offset) at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from krafa_events import ClaimCreated, DecodedEvent, Topic, dlq_topic, encode
from krafa_events.testing import a_claim_created
from krafa_kit.consumer import InboxConsumer, PermanentError
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.kafka import create_consumer, create_producer
from krafa_kit.migrations import migrate_async
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import TopicReader, eventually

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parent / "migrations"


async def test_redelivered_event_has_one_effect_and_poison_goes_to_the_dlq(
    database_url: str, broker: EmbeddedBroker
) -> None:
    await migrate_async(database_url, "kit_test", MIGRATIONS)
    db = Database(database_url, "kit_test")
    await db.connect()
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap)
    producer = create_producer(settings)
    await producer.start()
    effects: list[str] = []

    async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, ClaimCreated)
        if envelope.event.invoice_no == "REFUSED":
            raise PermanentError("this claim can never be handled")
        await uow.conn.execute("INSERT INTO effects (invoice_no) VALUES ($1)", envelope.event.invoice_no)
        effects.append(envelope.event.invoice_no)

    consumer = InboxConsumer(
        service="kit-test", db=db, producer=producer,
        consumer=create_consumer(settings, (Topic.CLAIMS.value,), "kit-test"),
        routes={ClaimCreated: on_claim_created},
    )  # fmt: skip

    task = asyncio.create_task(consumer.run())
    try:
        async with TopicReader(broker.bootstrap, dlq_topic(Topic.CLAIMS.value)) as dlq:
            good = encode(a_claim_created(invoice_no="ONCE"), source="/t")
            refused = encode(a_claim_created(invoice_no="REFUSED"), source="/t")
            raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await raw.start()
            sent: list[RecordMetadata] = []
            # After the poison, a burst over several partitions (keys differ), fetched together.
            burst = [encode(a_claim_created(invoice_no=f"AFTER-{i}"), source="/t") for i in range(8)]
            try:
                for record in (good, good, refused):  # `good` twice: a redelivery
                    headers = list(record.headers)
                    sent.append(await raw.send_and_wait(record.topic, record.value, key=record.key, headers=headers))
                sent.append(
                    await raw.send_and_wait(Topic.CLAIMS.value, b"not json", key=b"k", headers=[("ce_type", b"x.v1")])
                )
                pending = [await raw.send(b.topic, b.value, key=b.key, headers=list(b.headers)) for b in burst]
                sent += await asyncio.gather(*pending)
            finally:
                await raw.stop()
            after = {f"AFTER-{i}" for i in range(8)}
            await eventually(lambda: len(dlq.raw) == 2 and {"ONCE", *after} <= set(effects), timeout=60)
            reasons = sorted(dict(r.headers)["krafa_dlq_reason"].decode() for r in dlq.raw)  # type: ignore[attr-defined]
            assert reasons[0].startswith("PermanentError: this claim can never be handled")
            assert "missing CloudEvents headers" in reasons[1]
        # The list is outside the transaction (a rolled-back batch may have appended); the table
        # is what committed.
        assert set(effects) == {"ONCE", *after}
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT invoice_no, count(*) AS n FROM effects GROUP BY 1 ORDER BY 1")
        assert [(r["invoice_no"], r["n"]) for r in rows] == [(name, 1) for name in sorted({"ONCE", *after})]
        # Every partition's offset moved past what it delivered, poison included: a restarted
        # consumer resumes after them.
        ends: dict[TopicPartition, int] = {}
        for meta in sent:
            tp = TopicPartition(meta.topic, meta.partition)
            ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
        assert len(ends) > 1

        async def committed() -> bool:
            for tp, end in ends.items():
                if (await consumer.consumer.committed(tp) or 0) < end:
                    return False
            return True

        await eventually(committed, timeout=60)
    finally:
        consumer.stop()
        task.cancel()
        await producer.stop()
        await db.close()


async def test_a_failure_then_the_database_away_waits_for_it_and_never_dead_letters(
    database_url: str, broker: EmbeddedBroker
) -> None:
    """As PostgreSQL restarts, a handler may first fail in a way that is not a connection error;
    its retries then meet "connection refused" for as long as the database is down. Those retries
    do not count towards dead-lettering: the event is handled once the database is back."""
    await migrate_async(database_url, "kit_test", MIGRATIONS)
    db = Database(database_url, "kit_test")
    await db.connect()
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap)
    producer = create_producer(settings)
    await producer.start()
    failures = [RuntimeError("odd failure as the server shut down")] + [
        ConnectionRefusedError(111, "Connection refused") for _ in range(6)
    ]

    async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, ClaimCreated)
        if failures:
            raise failures.pop(0)
        await uow.conn.execute("INSERT INTO effects (invoice_no) VALUES ($1)", envelope.event.invoice_no)

    consumer = InboxConsumer(
        service="kit-test", db=db, producer=producer,
        consumer=create_consumer(settings, (Topic.CLAIMS.value,), "kit-test"),
        routes={ClaimCreated: on_claim_created},
    )  # fmt: skip
    task = asyncio.create_task(consumer.run())
    try:
        async with TopicReader(broker.bootstrap, dlq_topic(Topic.CLAIMS.value)) as dlq:
            record = encode(a_claim_created(invoice_no="PAID-DURING-RESTART"), source="/t")
            raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await raw.start()
            try:
                await raw.send_and_wait(record.topic, record.value, key=record.key, headers=list(record.headers))
            finally:
                await raw.stop()

            async def handled() -> bool:
                async with db.connection() as conn:
                    return bool(
                        await conn.fetchval("SELECT count(*) FROM effects WHERE invoice_no = 'PAID-DURING-RESTART'")
                    )

            await eventually(handled, timeout=60)
            assert failures == [] and dlq.raw == []
    finally:
        consumer.stop()
        task.cancel()
        await producer.stop()
        await db.close()
