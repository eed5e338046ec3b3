"""Apache Kafka as the kit runs it (the `kafka` marker: always on the session's cluster):
three KRaft nodes, every Krafa topic replicated three times with min.insync.replicas 2, and the
outbox relay publishing each batch as one Kafka transaction, so a batch that failed half-way is
aborted and read_committed consumers see every event exactly once after the retry. The dead
letters are read from every partition of the cluster's DLQs (the operators' page, `krafa dlq`)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from krafa_events import Topic, decode
from krafa_events.testing import a_claim_created
from krafa_kit import dlq
from krafa_kit.db import Database
from krafa_kit.kafka import create_producer, ensure_topics, krafa_topic_names
from krafa_kit.kafka_cluster import REPLICATION, KafkaCluster
from krafa_kit.migrations import migrate_async
from krafa_kit.outbox import OutboxRelay
from krafa_kit.producer import ClusterBoundProducer
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

MIGRATIONS = Path(__file__).parent / "migrations"


async def test_three_nodes_every_topic_replicated_three_times_min_insync_two(broker: KafkaCluster) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.describe_topics(krafa_topic_names())
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
    finally:
        await admin.close()
    assert sorted(b["node_id"] for b in cluster["brokers"]) == [1, 2, 3]
    assert {t["topic"] for t in topics} == set(krafa_topic_names())
    for topic in topics:
        assert len(topic["partitions"]) == 6, topic["topic"]
        assert all(len(p["replicas"]) == 3 for p in topic["partitions"]), topic["topic"]
    broker_configs = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
    assert broker_configs["min.insync.replicas"] == "2"
    assert broker_configs["auto.create.topics.enable"] == "false"


async def test_every_dead_letter_on_the_cluster_is_read(broker: KafkaCluster) -> None:
    # A fresh client knows no topic's partitions on Apache Kafka until it asks for them.
    producer = create_producer(ServiceSettings(kafka_bootstrap=broker.bootstrap))
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(
                Topic.BOUNCES.value + ".dlq",
                b"{}",
                key=f"k{i}".encode(),
                headers=[("krafa_dlq_reason", b"poison"), ("krafa_dlq_consumer", b"claims-api")],
            )
            for i in range(6)
        ]
    finally:
        await producer.stop()
    letters = await dlq.read(broker.bootstrap, dlq.TOPICS, {})
    assert sorted((d.partition, d.offset) for d in letters) == sorted((m.partition, m.offset) for m in sent)
    assert {d.dlq_topic for d in letters} == {Topic.BOUNCES.value + ".dlq"}


class FailsOnce:
    """A transactional producer whose `fail_at`-th send of its life raises: the relay's batch
    fails half-way, after some of its records reached the brokers."""

    def __init__(self, producer: Any, fail_at: int | None) -> None:
        self._producer = producer
        self._fail_at = fail_at
        self._sent = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        self._sent += 1
        if self._sent == self._fail_at:
            raise KafkaConnectionError("injected: the broker went away mid-batch")
        return await self._producer.send(*args, **kwargs)


async def read_all(bootstrap: str, isolation: str, until: int) -> list[str]:
    """Event ids on the claims topic as a consumer of `isolation` level sees them."""
    consumer = AIOKafkaConsumer(
        Topic.CLAIMS.value,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level=isolation,
    )
    await consumer.start()
    ids: list[str] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                ids += [decode(list(r.headers or ()), r.value, r.key).id for r in records]
            if len(ids) >= until and not batches:
                break
    finally:
        await consumer.stop()
    return ids


async def test_transactional_relay_aborts_a_failed_batch_and_publishes_each_event_once(
    database_url: str, broker: KafkaCluster
) -> None:
    await migrate_async(database_url, "kit_test", MIGRATIONS)
    db = Database(database_url, "kit_test")
    await db.connect()
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        kafka_transactional_id=f"kit-test-{uuid.uuid4().hex[:8]}",
        kafka_read_committed=True,
    )
    async with db.uow() as uow:
        ids = [uow.outbox.add(a_claim_created(invoice_no=f"T-{i}")) for i in range(40)]
        await uow.commit()
    made: list[FailsOnce] = []

    def relay_producer() -> FailsOnce:
        # The first producer fails on its 25th send; the one the relay makes after that works.
        made.append(FailsOnce(create_producer(settings, transactional=True), 25 if not made else None))
        return made[-1]

    plain = create_producer(settings)
    await plain.start()
    relay = OutboxRelay(db, plain, service="kit-test", poll_interval_s=0.2, transactional_producer=relay_producer)
    task = asyncio.create_task(relay.run())
    try:

        async def published() -> bool:
            async with db.connection() as conn:
                return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")) == 0

        await eventually(published, timeout=90, interval=0.2)
    finally:
        relay.stop()
        await task
        await plain.stop()
        await db.close()
    assert len(made) == 2, "the failed batch was retried with a fresh transactional producer"
    committed = await read_all(broker.bootstrap, "read_committed", len(ids))
    everything = await read_all(broker.bootstrap, "read_uncommitted", len(ids) + 24)
    # 24 records of the first attempt reached the brokers, in a transaction that was aborted:
    assert len(everything) == len(ids) + 24
    # ... so a read_committed consumer sees each event once, in the outbox's order per key.
    assert sorted(committed) == sorted(ids)


async def _new_cluster(broker: KafkaCluster) -> None:
    """The cluster lost and an empty one started behind the same addresses, with the topics (what
    `krafa chaos` does for "broker lost"): the first producer id it hands out is 0 again."""
    await asyncio.to_thread(broker.wipe)
    await asyncio.to_thread(broker.start)
    await ensure_topics(broker.bootstrap, replication=REPLICATION)


async def _values(bootstrap: str, topic: str, partition: int) -> list[bytes | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes | None] = []
        while len(values) < end:
            batches = await consumer.getmany(tp, timeout_ms=1000)
            values += [record.value for record in batches.get(tp, [])]
        return values
    finally:
        await consumer.stop()


async def _producer_with_id(settings: ServiceSettings, wanted: int) -> ClusterBoundProducer:
    """A producer the cluster gave the id `wanted`: the first from the node whose block starts
    there (a random node answers each start)."""
    for _ in range(50):
        producer = create_producer(settings)
        await producer.start()
        if producer.producer._txn_manager.producer_id == wanted:
            return producer
        await producer.stop()
    raise AssertionError(f"no producer got the id {wanted} from the new cluster")


async def test_an_idempotent_producer_that_outlives_its_cluster_loses_no_record(broker: KafkaCluster) -> None:
    # Every fresh cluster hands out the same producer ids (each node a block of 1000 from 0): the
    # service's producer, started on the lost cluster, and one started on the new cluster share
    # an id. The broker takes the second writer's record for a duplicate of the first's and
    # acknowledges it unwritten, unless the service's producer is replaced when the cluster
    # changes (krafa_kit.producer).
    settings = ServiceSettings(kafka_bootstrap=broker.bootstrap, kafka_idempotence=True)
    topic, partition = Topic.CLAIMS.value + ".dlq", 2
    await _new_cluster(broker)
    service = create_producer(settings)
    await service.start()
    try:
        old_id = service.producer._txn_manager.producer_id
        await _new_cluster(broker)
        other = await _producer_with_id(settings, old_id)
        try:
            await other.send_and_wait(topic, b"other's", partition=partition)
            sent = await service.send_and_wait(topic, b"service's", partition=partition)
            await other.send_and_wait(topic, b"other's again", partition=partition)
        finally:
            await other.stop()
        new_id = service.producer._txn_manager.producer_id
    finally:
        await service.stop()
    assert await _values(broker.bootstrap, topic, partition) == [b"other's", b"service's", b"other's again"]
    assert (sent.partition, sent.offset) == (partition, 1)
    assert service.replaced == 1 and new_id != old_id
