"""Settings every service shares, read from `KRAFA_*` environment variables. Each service
subclasses ServiceSettings for its own; secrets are SecretStr."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KRAFA_", extra="ignore")

    service_name: str = "krafa"
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/krafa",
        description="PostgreSQL DSN; each service uses its own schema in it",
    )
    database_pool_size: int = 10
    db_schema: str | None = Field(default=None, description="defaults to the service's own schema")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    # The embedded broker (Tansu) has neither; both are for Apache Kafka.
    kafka_idempotence: bool = False
    # Tansu answers a waiting fetch only when it times out, so latency follows this value.
    kafka_fetch_max_wait_ms: int = 10
    kafka_consumer_group_prefix: str = "krafa"
    # Tansu holds a group join for half the session timeout, so a short one makes starts and
    # rebalances quick; heartbeats run in the background every sixth of it.
    kafka_session_timeout_ms: int = 6000
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    clock: Literal["wall", "simulated"] = "wall"
    sim_start: datetime = Field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    sim_epoch: float = Field(default=0.0, description="wall time (unix s) at which sim_start held")
    sim_speed: float = Field(default=1.0, description="simulated seconds per wall second")
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 0.5
    outbox_retention_days: int = 7
    consumer_batch_size: int = 500
