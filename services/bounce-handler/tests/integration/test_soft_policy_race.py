"""Soft bounces for one creditor's address arriving at the same moment, for different
deliveries: the address lock makes them count one after the other, so exactly the first
`max_soft - 1` stay soft."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from krafa_bounce_handler import service
from krafa_bounce_handler.app import MIGRATIONS, SCHEMA
from krafa_bounce_handler.webhooks import WebhookEvent
from krafa_events.testing import a_reminder_sent
from krafa_kit.clock import WallClock
from krafa_kit.db import Database
from krafa_kit.migrations import migrate_async

pytestmark = pytest.mark.integration

BOUNCES = 6


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate_async(database_url, SCHEMA, MIGRATIONS)
    database = Database(database_url, SCHEMA, pool_size=2 * BOUNCES)
    await database.connect()
    yield database
    await database.close()


async def test_concurrent_soft_bounces_for_one_address_are_counted_one_after_the_other(db: Database) -> None:
    clock = WallClock()
    creditor_id = uuid.uuid4()
    deliveries = [a_reminder_sent(creditor_id=creditor_id, recipient="Anna@example.is") for _ in range(BOUNCES)]
    for sent in deliveries:
        async with db.uow() as uow:
            await service.record_delivery(uow, sent, clock.now())
            await uow.commit()

    async def soft_bounce(delivery_id: uuid.UUID) -> None:
        event = WebhookEvent(
            provider="postmark",
            event="SoftBounce",
            event_id=str(uuid.uuid4()),
            kind="soft",
            recipient="anna@example.is",
            status="4.2.2",
            reason="mailbox full",
            delivery_id=delivery_id,
        )
        await service.receive_webhook(db, clock, event, b"{}")

    await asyncio.gather(*(soft_bounce(sent.delivery_id) for sent in deliveries))

    async with db.connection() as conn:
        rows = await conn.fetch("SELECT kind, escalated, state FROM bounces ORDER BY received_at")
    assert {row["state"] for row in rows} == {"emitted"}
    assert (
        sorted((row["kind"], row["escalated"]) for row in rows)
        == [("hard", True)] * (BOUNCES - 2) + [("soft", False)] * 2
    )
