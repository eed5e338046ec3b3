"""Kafka clients built from settings: security (SSL, SASL_SSL with PLAIN/SCRAM, mutual TLS),
idempotence, transactions and fetch wait all come from config."""

from __future__ import annotations

from typing import Any, Literal, overload

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.protocol.metadata import MetadataRequest
from krafa_events.topics import PARTITIONS, Topic, dlq_topic

from krafa_kit.producer import ClusterBoundProducer
from krafa_kit.settings import ServiceSettings, client_ssl_context


def security_options(settings: ServiceSettings) -> dict[str, Any]:
    """The aiokafka keyword arguments for the configured security protocol (also for
    `ensure_topics`); the SASL password comes from the environment as a SecretStr."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = client_ssl_context(
            settings.kafka_ssl_cafile,
            settings.kafka_ssl_certfile,
            settings.kafka_ssl_keyfile,
            check_hostname=settings.kafka_ssl_check_hostname,
        )
    if settings.kafka_security_protocol.startswith("SASL_"):
        if not settings.kafka_sasl_mechanism:
            raise ValueError(f"{settings.kafka_security_protocol} needs KRAFA_KAFKA_SASL_MECHANISM")
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


_security = security_options


@overload
def create_producer(settings: ServiceSettings, *, transactional: Literal[False] = False) -> ClusterBoundProducer: ...
@overload
def create_producer(settings: ServiceSettings, *, transactional: Literal[True]) -> AIOKafkaProducer: ...


def create_producer(
    settings: ServiceSettings, *, transactional: bool = False
) -> ClusterBoundProducer | AIOKafkaProducer:
    """The service's producer (DLQ records, and the relay's unless transactions are configured),
    replaced when the cluster changes under it (krafa_kit.producer); with `transactional`, the
    outbox relay's own producer under KRAFA_KAFKA_TRANSACTIONAL_ID."""
    if transactional:
        return _producer(settings, settings.kafka_transactional_id)
    return ClusterBoundProducer(lambda: _producer(settings, None), idempotent=settings.kafka_idempotence)


def _producer(settings: ServiceSettings, transactional_id: str | None) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.service_name}-{'relay' if transactional_id else 'producer'}",
        acks="all",
        # A transactional producer is idempotent by definition; both stay off unless configured.
        enable_idempotence=settings.kafka_idempotence or transactional_id is not None,
        transactional_id=transactional_id,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
        **_security(settings),
    )


def create_consumer(settings: ServiceSettings, topics: tuple[str, ...], group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        client_id=f"{settings.service_name}-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        # The fetcher's longest pause between looks at its partitions (aiokafka's default 200 ms):
        # fetches, consumption, resumes and rebalances wake it at once, so this only paces a
        # consumer with every partition paused (krafa_kit.consumer's idle state) — five wake-ups a
        # second for nothing.
        consumer_timeout_ms=1000,
        max_poll_records=settings.consumer_batch_size,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms(settings),
        isolation_level="read_committed" if settings.kafka_read_committed else "read_uncommitted",
        partition_assignment_strategy=(
            (StickyPartitionAssignor,) if settings.kafka_assignor == "sticky" else (RoundRobinPartitionAssignor,)
        ),
        **_security(settings),
    )


def heartbeat_interval_ms(settings: ServiceSettings) -> int:
    """A sixth of the session timeout unless configured; never more than a third of it, so two
    heartbeats may go missing before the coordinator gives the member up."""
    session = settings.kafka_session_timeout_ms
    configured = settings.kafka_heartbeat_interval_ms
    return max(min(configured, session // 3) if configured else session // 6, 250)


TOPIC_ALREADY_EXISTS = 36


async def _create(admin: AIOKafkaAdminClient, names: list[str], replication: int) -> dict[str, int]:
    """Create `names` with their documented partitions; returns the topics that failed, with the
    broker's error code (one that already exists is no failure)."""
    partitions = {name: PARTITIONS[topic] for topic in Topic for name in (topic.value, dlq_topic(topic.value))}
    if not names:
        return {}
    response = await admin.create_topics([NewTopic(name, partitions[name], replication) for name in names])
    return {error[0]: error[1] for error in response.topic_errors if error[1] not in (0, TOPIC_ALREADY_EXISTS)}


async def ensure_topics(bootstrap: str, *, replication: int = 1, timeout: float = 120, **security: Any) -> None:
    """Create every Krafa topic and its dead-letter topic; existing ones are left alone. Retried
    while the cluster cannot place the replicas yet (a node of a new cluster not registered)."""
    import asyncio

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            existing = set(await admin.list_topics())
            failed = await _create(admin, [n for n in krafa_topic_names() if n not in existing], replication)
            if not failed:
                return
            if loop.time() > deadline:
                raise RuntimeError(f"topics not created within {timeout}s (error codes): {failed}")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def krafa_topic_names() -> list[str]:
    return [name for topic in Topic for name in (topic.value, dlq_topic(topic.value))]


async def reset_topics(bootstrap: str, *, replication: int = 1, timeout: float = 60, **security: Any) -> None:
    """Delete every Krafa topic and create it again, empty (a cluster shared by test stacks
    one after another: each starts as on a new cluster)."""
    import asyncio

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        existing = [name for name in krafa_topic_names() if name in set(await admin.list_topics())]
        if existing:
            await admin.delete_topics(existing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The controller forgets a deleted topic at once, but creating it again can race the
        # deletion: retried until every name is created anew.
        wanted = krafa_topic_names()
        while wanted:
            left = set(await admin.list_topics()) & set(existing)
            failed = (
                await _create(admin, [n for n in wanted if n not in left], replication)
                if len(left) < len(wanted)
                else {}
            )
            wanted = [n for n in wanted if n in left or n in failed]
            if wanted and loop.time() > deadline:
                raise TimeoutError(f"topics not recreated within {timeout}s: {sorted(wanted)}")
            if wanted:
                await asyncio.sleep(0.2)
        # Created is not yet served: wait until every partition has a leader in the metadata, so
        # whoever comes next (a stack, a test describing the topics) sees each topic whole.
        names = krafa_topic_names()
        while not await _served_by_every_node(admin, names):
            if loop.time() > deadline:
                raise TimeoutError(f"topics not served with leaders within {timeout}s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _served_by_every_node(admin: AIOKafkaAdminClient, names: list[str]) -> bool:
    """Whether every broker's metadata shows each topic whole. Each node learns the controller's
    changes on its own time, and describe_topics asks a random node: one that has the new topics
    says nothing about the next client, whose metadata may come from a node that lags."""
    client = admin._client  # aiokafka's admin has no per-node describe; its client does
    for node in {broker.nodeId for broker in client.cluster.brokers()}:
        response = await admin._send_request_to_node(node, MetadataRequest(names))
        if not _served(response.to_object()["topics"]):
            return False
    return True


def _served(described: list[dict[str, Any]]) -> bool:
    return all(
        topic.get("error_code", 0) == 0
        and topic["partitions"]
        and all(p.get("error_code", 0) == 0 and p.get("leader", -1) >= 0 for p in topic["partitions"])
        for topic in described
    )
