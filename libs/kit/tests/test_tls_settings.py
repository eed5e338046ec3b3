"""TLS and secrets from the environment: PostgreSQL sslmode/CA/password reach every connection
(proven against the real embedded PostgreSQL, which speaks no TLS: `require` is refused,
`disable` connects), Kafka SSL/SASL options carry the CA and the SASL secret, and
transactions/idempotence stay off unless switched on."""

from __future__ import annotations

import datetime as dt
import os
import ssl
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from krafa_kit.db import Database, sqlalchemy_url
from krafa_kit.kafka import create_producer, security_options
from krafa_kit.settings import ServiceSettings, database_tls_params


def write_ca(path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Krafa Test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return "Krafa Test CA"


def test_kafka_ssl_and_sasl_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "kafka-ca.pem"
    common_name = write_ca(ca)
    monkeypatch.setenv("KRAFA_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KRAFA_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KRAFA_KAFKA_SASL_USERNAME", "krafa")
    monkeypatch.setenv("KRAFA_KAFKA_SASL_PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("KRAFA_KAFKA_SSL_CAFILE", str(ca))
    settings = ServiceSettings()
    assert "s3cret-from-env" not in repr(settings)  # a SecretStr: never in a log line or a repr
    options = security_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("krafa", "s3cret-from-env")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(common_name in str(cert["subject"]) for cert in context.get_ca_certs())

    monkeypatch.delenv("KRAFA_KAFKA_SASL_MECHANISM")
    with pytest.raises(ValueError, match="SASL_MECHANISM"):
        security_options(ServiceSettings())

    plain = ServiceSettings(kafka_security_protocol="PLAINTEXT")
    assert security_options(plain) == {"security_protocol": "PLAINTEXT"}


async def test_producer_idempotence_and_transactions_are_off_unless_switched_on() -> None:
    default = create_producer(ServiceSettings(kafka_bootstrap="127.0.0.1:1"))
    configured = ServiceSettings(kafka_bootstrap="127.0.0.1:1", kafka_transactional_id="notifier-0")
    transactional = create_producer(configured, transactional=True)
    assert default.producer._txn_manager is None and not default.idempotent
    assert transactional._txn_manager is not None and transactional._txn_manager.transactional_id == "notifier-0"
    # The service's own producer (dead letters) never joins the relay's transactions.
    assert create_producer(configured).producer._txn_manager is None


async def test_database_tls_and_password_reach_the_real_connection(
    embedded_pg: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dsn = embedded_pg.dsn  # type: ignore[attr-defined]
    # The embedded server has no TLS: a client that insists on it must be refused, which shows
    # the setting reached the connection; `disable` connects.
    monkeypatch.setenv("KRAFA_DATABASE_SSLMODE", "require")
    insisting = Database(dsn, "public")
    assert dict(parse_qsl(urlsplit(insisting.dsn).query)) == {"sslmode": "require"}
    with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
        await insisting.connect(attempts=1)
    monkeypatch.setenv("KRAFA_DATABASE_SSLMODE", "disable")
    plain = Database(dsn, "public")
    await plain.connect(attempts=1)
    try:
        assert await plain.ping()
    finally:
        await plain.close()

    ca = tmp_path / "pg-ca.pem"
    write_ca(ca)
    monkeypatch.setenv("KRAFA_DATABASE_SSLMODE", "verify-full")
    monkeypatch.setenv("KRAFA_DATABASE_SSLROOTCERT", str(ca))
    monkeypatch.setenv("KRAFA_DATABASE_PASSWORD", "pw from env")
    params = database_tls_params(ServiceSettings())
    assert params == {"sslmode": "verify-full", "sslrootcert": str(ca), "password": "pw from env"}
    merged = Database("postgresql://krafa@db.example:5432/krafa?sslmode=require", "claims").dsn
    query = dict(parse_qsl(urlsplit(merged).query))
    assert query["sslmode"] == "require"  # what the DSN says explicitly wins
    assert query["sslrootcert"] == str(ca) and query["password"] == "pw from env"  # noqa: S105 (test value)
    # Recorded by monkeypatch, so the variable sqlalchemy_url exports is gone after the test.
    monkeypatch.setenv("PGSSLROOTCERT", "placeholder")
    monkeypatch.delenv("PGSSLROOTCERT")
    url = sqlalchemy_url("postgresql://krafa@db.example:5432/krafa", params)
    assert url.startswith("postgresql+asyncpg://") and "ssl=verify-full" in url and "sslrootcert" not in url
    assert os.environ["PGSSLROOTCERT"] == str(ca)  # asyncpg reads the CA from there
