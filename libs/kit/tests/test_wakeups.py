"""Event-driven wake-ups over the real PostgreSQL and broker: a NOTIFY wakes the outbox relay at
once and a missed one costs only the poll, never the row; an idle consumer stops fetching, wakes
on a relay's publication hint, and still finds records nobody announced; a writer's due hint
(`notify_due`) wakes the loop of its work at commit; the shared listener comes back after
losing its connection and wakes every loop, since NOTIFYs meanwhile are lost.

The fallback intervals are set far beyond the tests' waits (600 s) where a test shows that the
wake-up, not the poll, did the work."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from krafa_events import ClaimCreated, DecodedEvent, Topic, encode
from krafa_events.testing import a_claim_created
from krafa_kit.consumer import InboxConsumer
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.kafka import create_consumer, create_producer
from krafa_kit.migrations import migrate_async
from krafa_kit.outbox import OutboxRelay, notify_channel
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import TopicReader, eventually
from krafa_kit.wakeup import PUBLISHED_CHANNEL, Listener, Wakeup, due_channel, notify_due

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "kit_test"
NEVER_S = 600.0  # a fallback that cannot fire within a test


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate_async(database_url, SCHEMA, MIGRATIONS)
    database = Database(database_url, SCHEMA)
    await database.connect()
    yield database
    await database.close()


@contextlib.asynccontextmanager
async def running(*coroutines: object) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c) for c in coroutines]  # type: ignore[arg-type]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def write_outbox(db: Database, invoice_no: str, *, notify: bool) -> None:
    """An outbox row as a use case writes it (`Outbox.flush` sends the NOTIFY at commit), or the
    same row without the NOTIFY, as if it had been lost."""
    if notify:
        async with db.uow() as uow:
            uow.outbox.add(a_claim_created(invoice_no=invoice_no))
            await uow.commit()
        return
    event = encode(a_claim_created(invoice_no=invoice_no), source="/t")
    headers = json.dumps([[name, value.decode()] for name, value in event.headers])
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, event_type, topic, key, headers, value)"
            " VALUES ($1::uuid, $2, $3, $4, $5, $6)",
            event.event_id,
            ClaimCreated.TYPE,
            event.topic,
            event.key,
            headers,
            event.value,
        )


async def unpublished(db: Database) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_a_notify_wakes_the_relay_and_a_missed_one_is_found_by_the_poll(
    db: Database, broker: EmbeddedBroker
) -> None:
    settings = ServiceSettings(database_url=db.dsn, kafka_bootstrap=broker.bootstrap)
    producer = create_producer(settings)
    await producer.start()
    try:
        async with TopicReader(broker.bootstrap, Topic.CLAIMS.value) as topic:
            relay = OutboxRelay(db, producer, service="kit-test", poll_interval_s=NEVER_S)
            async with running(relay.run()):
                await eventually(lambda: relay.is_leader)
                await write_outbox(db, "NOTIFIED", notify=True)
                await eventually(lambda: "NOTIFIED" in {e.invoice_no for e in topic.of_type(ClaimCreated)})
                # A row whose NOTIFY was lost waits: this relay's poll is ten minutes away…
                await write_outbox(db, "SILENT", notify=False)
                await asyncio.sleep(1.0)
                assert await unpublished(db) == 1
                # …until the next NOTIFY, which makes it look at every unpublished row.
                async with db.connection() as conn:
                    await conn.execute("SELECT pg_notify($1, '')", notify_channel(SCHEMA))
                await eventually(lambda: "SILENT" in {e.invoice_no for e in topic.of_type(ClaimCreated)})
            relay.stop()
            # With a poll, a row nobody announced is published all the same.
            await write_outbox(db, "POLLED", notify=False)
            polling = OutboxRelay(db, producer, service="kit-test", poll_interval_s=0.3)
            async with running(polling.run()):
                await eventually(lambda: "POLLED" in {e.invoice_no for e in topic.of_type(ClaimCreated)})

                async def all_published() -> bool:
                    return await unpublished(db) == 0

                await eventually(all_published)
    finally:
        await producer.stop()


async def test_an_idle_consumer_wakes_on_a_publication_and_still_finds_unannounced_records(
    db: Database, broker: EmbeddedBroker
) -> None:
    settings = ServiceSettings(database_url=db.dsn, kafka_bootstrap=broker.bootstrap)
    producer = create_producer(settings)
    await producer.start()
    applied: list[str] = []

    async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, ClaimCreated)
        applied.append(envelope.event.invoice_no)

    consumer = InboxConsumer(
        service="kit-test", db=db, producer=producer,
        consumer=create_consumer(settings, (Topic.CLAIMS.value,), "kit-test-idle"),
        routes={ClaimCreated: on_claim_created},
        idle_after_s=0.2, idle_check_s=0.3,
    )  # fmt: skip
    handled = Wakeup()
    consumer.on_handled.append(handled.set)
    listener = Listener(db.dsn)
    listener.on(PUBLISHED_CHANNEL, consumer.published)
    relay = OutboxRelay(db, producer, service="kit-test", poll_interval_s=NEVER_S)
    raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await raw.start()

    async def send_unannounced(invoice_no: str) -> None:
        event = encode(a_claim_created(invoice_no=invoice_no), source="/t")
        await raw.send_and_wait(event.topic, event.value, key=event.key, headers=list(event.headers))

    try:
        async with running(consumer.run(), listener.run(), relay.run()):
            await eventually(lambda: consumer.idle, timeout=60)
            # Nobody announces this record: the idle check (end offsets) finds it.
            checks = consumer.idle_checks
            await send_unannounced("UNANNOUNCED")
            await eventually(lambda: "UNANNOUNCED" in applied)
            assert consumer.idle_checks > checks
            assert await handled.wait(10)  # the service's loops hear of the applied event
            # Now idle with a check that never comes: a record nobody announces is not fetched…
            consumer.idle_check_s = NEVER_S
            await eventually(lambda: consumer.idle)
            await asyncio.sleep(0.5)  # a check of the old interval under way has passed
            await send_unannounced("QUIET")
            await asyncio.sleep(1.0)
            assert "QUIET" not in applied and consumer.idle
            # …but the relay's publication hint for the topic wakes it: both records are applied.
            await listener.connected.wait()
            await write_outbox(db, "ANNOUNCED", notify=True)
            await eventually(lambda: {"QUIET", "ANNOUNCED"} <= set(applied))
            # A hint for topics it does not read leaves it idle.
            await eventually(lambda: consumer.idle)
            consumer.published(Topic.PAYMENTS.value)
            await asyncio.sleep(0.3)
            assert consumer.idle
    finally:
        consumer.stop()
        await raw.stop()
        await producer.stop()


async def test_a_due_hint_wakes_the_loop_of_its_work_at_commit_and_no_other(db: Database) -> None:
    listener = Listener(db.dsn)
    deliveries, holds = Wakeup(), Wakeup()
    listener.wake(due_channel(SCHEMA, "deliveries"), deliveries)
    async with running(listener.run()):
        await listener.connected.wait()
        # A loop registered while the listener runs is listened for too.
        listener.wake(due_channel(SCHEMA, "holds"), holds)
        await deliveries.wait(0)  # woken once on connecting
        async with db.uow() as uow:
            # In the writer's transaction, on the channel of the schema its connection uses.
            await uow.conn.execute(f"SELECT {notify_due('deliveries')}")
            assert not await deliveries.wait(0.5)  # nothing is due before the commit
            await uow.commit()
        assert await deliveries.wait(20) and not holds.is_set()
        async with db.uow() as uow:
            await uow.conn.execute(f"SELECT {notify_due('holds')}")
            await uow.commit()
        assert await holds.wait(20) and not deliveries.is_set()
        # A writer that rolls back wakes nobody.
        async with db.uow() as uow:
            await uow.conn.execute(f"SELECT {notify_due('deliveries')}")
        assert not await deliveries.wait(0.5)


async def test_the_listener_reconnects_and_wakes_every_loop_after_losing_its_connection(db: Database) -> None:
    listener = Listener(db.dsn)
    first, second = Wakeup(), Wakeup()
    listener.wake("krafa_test_a", first)
    listener.wake("krafa_test_b", second)
    async with running(listener.run()):
        await listener.connected.wait()
        assert await first.wait(0) and await second.wait(0)  # woken once on connecting
        async with db.connection() as conn:
            await conn.execute("SELECT pg_notify('krafa_test_a', '')")
            assert await first.wait(20) and not await second.wait(0)
            # The server drops the listening connection (a restart, a failover, an admin).
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE 'LISTEN%'"
            )
        # Whatever was notified meanwhile is lost: every loop is woken to look for itself.
        assert await first.wait(30) and await second.wait(30)
        await eventually(lambda: listener.connected.is_set() and listener.connections == 2)
        await first.wait(0)
        await second.wait(0)
        # Listening again on every channel.
        async with db.connection() as conn:
            await conn.execute("SELECT pg_notify('krafa_test_b', '')")
        assert await second.wait(20) and not first.is_set()
