"""Kafka clients built from settings: security (SSL, SASL_SSL with PLAIN/SCRAM, mutual TLS),
idempotence, transactions and fetch wait all come from config."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from krafa_events.topics import PARTITIONS, Topic, dlq_topic

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


def create_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.service_name}-producer",
        acks="all",
        # A transactional producer is idempotent by definition; both stay off unless configured.
        enable_idempotence=settings.kafka_idempotence or settings.kafka_transactional_id is not None,
        transactional_id=settings.kafka_transactional_id,
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
        max_poll_records=settings.consumer_batch_size,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 6, 250),
        **_security(settings),
    )


async def ensure_topics(bootstrap: str, *, replication: int = 1, **security: Any) -> None:
    """Create every Krafa topic and its dead-letter topic; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for topic in Topic:
            for name in (topic.value, dlq_topic(topic.value)):
                if name not in existing:
                    wanted.append(NewTopic(name, PARTITIONS[topic], replication))
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()
