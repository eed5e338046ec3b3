"""A DSN and the ReminderSent of its delivery, processed at the same moment by the SMTP
endpoint and the consumer: whichever commits first, the bounce is emitted exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from krafa_bounce_handler import service
from krafa_bounce_handler.app import MIGRATIONS, SCHEMA
from krafa_bounce_handler.domain import InboundMessage
from krafa_events.testing import a_reminder_sent
from krafa_kit.clock import WallClock
from krafa_kit.db import Database
from krafa_kit.migrations import migrate_async

from .conftest import DOMAIN, SECRET, a_dsn

pytestmark = pytest.mark.integration

DELIVERIES = 40


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate_async(database_url, SCHEMA, MIGRATIONS)
    database = Database(database_url, SCHEMA, pool_size=2 * DELIVERIES)
    await database.connect()
    yield database
    await database.close()


async def test_a_dsn_racing_its_reminder_sent_is_emitted_exactly_once(db: Database) -> None:
    clock = WallClock()
    events = [a_reminder_sent() for _ in range(DELIVERIES)]

    async def consume(event: object) -> None:
        async with db.uow() as uow:
            await service.record_delivery(uow, event, clock.now())  # type: ignore[arg-type]
            await uow.commit()

    async def receive(event: object) -> None:
        delivery_id = event.delivery_id  # type: ignore[attr-defined]
        return_path = service.verp.encode(delivery_id, DOMAIN, SECRET.encode())
        message = InboundMessage(raw=a_dsn("jon@example.is", return_path), mail_from="", rcpt_tos=(return_path,))
        await service.receive_message(db, clock, message, secret=SECRET.encode())

    await asyncio.gather(*(step(event) for event in events for step in (consume, receive)))

    async with db.connection() as conn:
        states = await conn.fetch("SELECT state, count(*) AS n FROM bounces GROUP BY state")
        emitted = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'krafa.bounce.email_bounced.v1'")
    assert {row["state"]: row["n"] for row in states} == {"emitted": DELIVERIES}
    assert emitted == DELIVERIES
