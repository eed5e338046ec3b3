"""The retention policy of every service, applied by its sweeper to its real migrated schema: what
is past its time goes (or, for returned messages, is emptied down to its verdict and hash), what
is not stays, and the published events about an erased debtor leave the outbox at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from krafa_kit.db import Database
from krafa_kit.migrations import migrate_async
from krafa_kit.retention import RetentionSweeper, shared_rules
from pydantic import SecretStr

pytestmark = pytest.mark.integration

OLD = timedelta(days=400 * 7)  # older than every rule
NOW = datetime.now(UTC)
SECRET = SecretStr("a test value")  # the return-path secret the settings require


async def _service(database_url: str, schema: str, migrations: Path) -> Database:
    await migrate_async(database_url, schema, migrations)
    db = Database(database_url, schema, pool_size=2)
    await db.connect()
    return db


async def _inbox_and_outbox(conn: asyncpg.Connection, erased: tuple[uuid.UUID, uuid.UUID]) -> None:
    await conn.execute(
        "INSERT INTO inbox (event_id, consumer, event_type, processed_at)"
        " VALUES ($1, 'x', 't', $2), ($3, 'x', 't', $4)",
        uuid.uuid4(),
        NOW - timedelta(days=31),
        uuid.uuid4(),
        NOW,
    )
    creditor, debtor = erased
    for key, published in (
        (f"{creditor}:{debtor}", NOW),  # about the erased debtor, published: goes
        (f"{creditor}:{debtor}", None),  # not yet published: stays until it is
        (f"{creditor}:{uuid.uuid4()}", NOW),  # another debtor: stays for replay
    ):
        await conn.execute(
            "INSERT INTO outbox (event_id, event_type, topic, key, headers, value, published_at)"
            " VALUES ($1, 't', 'krafa.claims', $2, '[]', '{}', $3)",
            uuid.uuid4(),
            key.encode(),
            published,
        )


async def _shared_effects(conn: asyncpg.Connection) -> None:
    assert await conn.fetchval("SELECT count(*) FROM inbox") == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 2


async def test_notifier_and_bounce_handler_and_claims_api_rules(database_url: str) -> None:
    from krafa_bounce_handler import app as bounce_app
    from krafa_bounce_handler import retention as bounce_retention
    from krafa_bounce_handler.settings import Settings as BounceSettings
    from krafa_claims_api import app as claims_app
    from krafa_claims_api import retention as claims_retention
    from krafa_claims_api.settings import Settings as ClaimsSettings
    from krafa_notifier import app as notifier_app
    from krafa_notifier import retention as notifier_retention
    from krafa_notifier.settings import Settings as NotifierSettings

    erased = (uuid.uuid4(), uuid.uuid4())

    # bounce-handler: old returned messages emptied (verdict and hash kept), old deliveries gone.
    db = await _service(database_url, "bounces", bounce_app.MIGRATIONS)
    try:
        async with db.connection() as conn:
            await _inbox_and_outbox(conn, erased)
            await conn.execute(
                "INSERT INTO erased_subjects (creditor_id, debtor_id, pseudonym, erased_at) VALUES ($1, $2, 'p', $3)",
                *erased,
                NOW,
            )
            for received in (NOW - OLD, NOW):
                await conn.execute(
                    "INSERT INTO inbound_messages (id, received_at, mail_from, rcpt_to, verdict, size_bytes,"
                    " raw_sha256, raw) VALUES ($1, $2, '', 'r', 'bounce', 9, '\\x00', 'To: a@b.is')",
                    uuid.uuid4(),
                    received,
                )
                await conn.execute(
                    "INSERT INTO deliveries (delivery_id, reminder_id, creditor_id, debtor_id, claim_ids, step,"
                    " recipient, sent_at, recorded_at) VALUES ($1, $1, $1, $1, '{}', 1, 'a@b.is', $2, $2)",
                    uuid.uuid4(),
                    received,
                )
        settings = BounceSettings(return_path_secret=SECRET)
        sweeper = RetentionSweeper(db, "bounce-handler", [*shared_rules(30), *bounce_retention.rules(settings)])
        changed = await sweeper.sweep()
        assert changed["inbound_messages"] == 1 and changed["deliveries"] == 1
        async with db.connection() as conn:
            await _shared_effects(conn)
            raws = sorted(bytes(r["raw"]) for r in await conn.fetch("SELECT raw FROM inbound_messages"))
            assert raws == [b"", b"To: a@b.is"]
            assert await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE raw_sha256 IS NOT NULL") == 2
            assert await conn.fetchval("SELECT count(*) FROM deliveries") == 1
        assert (await sweeper.sweep())["inbound_messages"] == 0  # nothing twice
    finally:
        await db.close()

    # notifier: finished deliveries past the evidence period go, pending ones never.
    db = await _service(database_url, "notifier", notifier_app.MIGRATIONS)
    try:
        async with db.connection() as conn:
            await _inbox_and_outbox(conn, erased)
            await conn.execute(
                "INSERT INTO erased_subjects (creditor_id, debtor_id, pseudonym, erased_at) VALUES ($1, $2, 'p', $3)",
                *erased,
                NOW,
            )
            for status, created in (("sent", NOW - OLD), ("pending", NOW - OLD), ("sent", NOW)):
                await conn.execute(
                    "INSERT INTO deliveries (id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone,"
                    " template, channels, status, due_at, created_at)"
                    " VALUES ($1, $1, 'reminder', $1, $1, '{}', 1, 'friendly', 't', '{email}', $2, $3, $3)",
                    uuid.uuid4(),
                    status,
                    created,
                )
        sweeper = RetentionSweeper(
            db, "notifier", [*shared_rules(30), *notifier_retention.rules(NotifierSettings(return_path_secret=SECRET))]
        )
        assert (await sweeper.sweep())["deliveries"] == 1
        async with db.connection() as conn:
            await _shared_effects(conn)
            assert sorted(r["status"] for r in await conn.fetch("SELECT status FROM deliveries")) == ["pending", "sent"]
    finally:
        await db.close()

    # claims-api: expired Idempotency-Keys and finished webhook deliveries (with attempts) go.
    db = await _service(database_url, "claims", claims_app.MIGRATIONS)
    try:
        async with db.connection() as conn:
            await _inbox_and_outbox(conn, erased)
            creditor = uuid.uuid4()
            await conn.execute(
                "INSERT INTO creditors (id, name, country, currency) VALUES ($1, 'C', 'IS', 'ISK')", creditor
            )
            endpoint = uuid.uuid4()
            await conn.execute(
                "INSERT INTO webhook_endpoints (id, creditor_id, url, secret, event_types)"
                " VALUES ($1, $2, 'https://e.example', 's', '{claim.paid}')",
                endpoint,
                creditor,
            )
            for key, created in (("old", NOW - timedelta(days=2)), ("new", NOW)):
                await conn.execute(
                    "INSERT INTO idempotency_keys (creditor_id, key, request_hash, created_at)"
                    " VALUES ($1, $2, 'h', $3)",
                    creditor,
                    key,
                    created,
                )
            for status, created in (("delivered", NOW - OLD), ("pending", NOW - OLD), ("delivered", NOW)):
                delivery = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, creditor_id, event_type, payload,"
                    " status, created_at) VALUES ($1, 'm', $2, $3, 'claim.paid', '{}', $4, $5)",
                    delivery,
                    endpoint,
                    creditor,
                    status,
                    created,
                )
                await conn.execute("INSERT INTO webhook_attempts (delivery_id, duration_ms) VALUES ($1, 5)", delivery)
        sweeper = RetentionSweeper(db, "claims-api", [*shared_rules(30), *claims_retention.rules(ClaimsSettings())])
        changed = await sweeper.sweep()
        assert (changed["idempotency_keys"], changed["webhook_deliveries"], changed["webhook_attempts"]) == (1, 1, 1)
        async with db.connection() as conn:
            # claims-api has no erased_subjects: its own erasure scrubs its outbox in place.
            assert await conn.fetchval("SELECT count(*) FROM inbox") == 1
            assert [r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")] == ["new"]
            assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 2
            assert await conn.fetchval("SELECT count(*) FROM webhook_attempts") == 2
    finally:
        await db.close()
