"""Settings every service shares, read from `KRAFA_*` environment variables. Each service
subclasses ServiceSettings for its own; secrets are SecretStr and come from the environment
(never a file in the image or the repository).

TLS: PostgreSQL with `KRAFA_DATABASE_SSLMODE` (libpq modes) and `KRAFA_DATABASE_SSLROOTCERT`
(CA), plus a client certificate if the server asks for one; Kafka with
`KRAFA_KAFKA_SECURITY_PROTOCOL=SSL|SASL_SSL`, `KRAFA_KAFKA_SASL_MECHANISM` (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512), user and password, and `KRAFA_KAFKA_SSL_CAFILE`; SMTP with
`KRAFA_SMTP_SECURITY=starttls|tls` (notifier) and `KRAFA_SMTP_TLS_CAFILE`.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KRAFA_", extra="ignore")

    service_name: str = "krafa"
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/krafa",
        description="PostgreSQL DSN; each service uses its own schema in it",
    )
    database_pool_size: int = 10
    database_password: SecretStr | None = Field(
        default=None, description="the database password, kept out of the DSN (KRAFA_DATABASE_PASSWORD)"
    )
    database_sslmode: SslMode | None = Field(default=None, description="libpq sslmode; unset: the DSN decides")
    database_sslrootcert: Path | None = Field(default=None, description="CA bundle that signed the server's cert")
    database_sslcert: Path | None = Field(default=None, description="client certificate, if the server wants one")
    database_sslkey: Path | None = Field(default=None, description="the client certificate's key")
    db_schema: str | None = Field(default=None, description="defaults to the service's own schema")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle of the brokers (default: the system's)")
    kafka_ssl_certfile: Path | None = Field(default=None, description="client certificate for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="the client certificate's key")
    kafka_ssl_check_hostname: bool = True
    # The embedded broker (Tansu) has neither; both are for Apache Kafka.
    kafka_idempotence: bool = False
    kafka_transactional_id: str | None = Field(
        default=None, description="switches the producer to transactions (and idempotence); unset: off"
    )
    smtp_tls_cafile: Path | None = Field(
        default=None, description="CA bundle for SMTP over TLS/STARTTLS (default: the system's)"
    )
    # Tansu answers a waiting fetch only when it times out, so latency follows this value there;
    # Apache Kafka answers as soon as records arrive, so it runs at Kafka's own 500 ms.
    kafka_fetch_max_wait_ms: int = 10
    kafka_read_committed: bool = Field(
        default=False, description="consumers skip records of aborted transactions (Apache Kafka)"
    )
    kafka_assignor: Literal["roundrobin", "sticky"] = Field(
        default="roundrobin", description="how a consumer group divides partitions; sticky keeps them on rebalance"
    )
    kafka_consumer_group_prefix: str = "krafa"
    # Tansu holds a group join for half the session timeout, so a short one makes starts and
    # rebalances quick; heartbeats run in the background every sixth of it.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = Field(
        default=0,
        ge=0,
        description="consumer heartbeat interval, at most a third of the session timeout; 0: a sixth of it "
        "(`2000` on Apache Kafka: each heartbeat is a request to the group coordinator)",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Guards in front of every route (krafa_kit.http): JSON and other parsed bodies get the
    # smaller limit (a bulk of 10,000 claims is ~7 MB); raw uploads stream and the route applies
    # its own finer limit below this one.
    http_max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0, description="largest parsed request body")
    http_max_upload_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="largest raw upload")
    http_max_json_depth: int = Field(default=64, ge=2, description="deepest JSON nesting accepted")
    http_rate_limit_per_s: float = Field(
        default=200.0, ge=0, description="requests a second per API key (token bucket); 0 switches the limit off"
    )
    http_rate_limit_burst: int = Field(default=400, ge=1, description="requests an API key may save up")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token Prometheus presents on `/metrics`; unset: only a loopback `KRAFA_HTTP_HOST` serves "
        "`/metrics` (the metrics name creditors)",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    clock: Literal["wall", "simulated"] = "wall"
    sim_start: datetime = Field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    sim_epoch: float = Field(default=0.0, description="wall time (unix s) at which sim_start held")
    sim_speed: float = Field(default=1.0, description="simulated seconds per wall second")
    outbox_batch_size: int = 500
    # The relay wakes on the NOTIFY every outbox write sends at commit (and reads the table whenever
    # its connection is made again, so a NOTIFY lost with one costs nothing); the poll only backs
    # that up.
    outbox_poll_interval_s: float = 30.0
    outbox_retention_days: int = 7
    inbox_retention_days: int = Field(
        default=30, ge=8, description="days a processed event id stays in the inbox (longer than any redelivery)"
    )
    retention_sweep_interval_s: float = Field(
        default=3600.0, gt=0, description="wall seconds between retention sweeps (the README's Retention section)"
    )
    consumer_batch_size: int = 500
    consumer_idle_after_s: float = Field(
        default=0.0,
        ge=0,
        description="seconds caught up without a record after which a consumer stops fetching until a relay's "
        "NOTIFY in the same database, its idle check or another lane's events wake it; 0: always fetching "
        "(`krafa run` sets 2: the embedded broker answers a waiting fetch only when it times out)",
    )
    consumer_idle_check_s: float = Field(
        default=1.0,
        gt=0,
        description="how often an idle consumer compares its partitions' end offsets with its positions "
        "(records no NOTIFY announced; `krafa run --broker kafka` sets 5: on Apache Kafka each check is a "
        "request to every node leading one of its partitions)",
    )
    consume: bool = Field(
        default=True,
        description="false: serve HTTP and relay the outbox without consuming any topic (an API-only replica)",
    )


def client_ssl_context(
    cafile: Path | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A verifying client TLS context: the system CAs or `cafile`, optionally a client cert."""
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if certfile is not None:
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    context.check_hostname = check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def database_tls_params(settings: ServiceSettings) -> dict[str, str]:
    """libpq-style DSN parameters (which asyncpg understands) for the TLS settings and password."""
    params: dict[str, str] = {}
    if settings.database_sslmode:
        params["sslmode"] = settings.database_sslmode
    for name in ("sslrootcert", "sslcert", "sslkey"):
        value = getattr(settings, f"database_{name}")
        if value is not None:
            params[name] = str(value)
    if settings.database_password is not None:
        params["password"] = settings.database_password.get_secret_value()
    return params
