"""A dispatcher's sends in flight survive its lock connection being lost (PostgreSQL restarted
under it): nobody releases them for orphans while it lives, and a delivery that was sent again
anyway (ADR 0003's repeat) is recorded — and announced — once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from krafa_kit.testing import eventually
from krafa_notifier import repository
from krafa_notifier.app import SCHEMA

pytestmark = pytest.mark.integration


async def _sending(conn: asyncpg.Connection, worker: uuid.UUID) -> uuid.UUID:
    delivery_id = uuid.uuid4()
    await repository.insert_delivery(
        conn,
        {
            "id": delivery_id,
            "reminder_id": uuid.uuid4(),
            "kind": "primary",
            "creditor_id": uuid.uuid4(),
            "debtor_id": uuid.uuid4(),
            "claim_ids": [uuid.uuid4()],
            "step": 1,
            "tone": "friendly",
            "template": "reminder",
            "fee_minor": 0,
            "channels": ["email"],
            "due_at": datetime(2026, 3, 3, 9, tzinfo=UTC),
        },
    )
    await conn.execute("UPDATE deliveries SET status = 'sending', claimed_by = $2 WHERE id = $1", delivery_id, worker)
    return delivery_id


async def _status(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> str:
    return str(await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id))


async def test_a_live_dispatcher_whose_lock_was_lost_keeps_its_sends_and_a_dead_ones_are_released(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:
        alive, dead = uuid.uuid4(), uuid.uuid4()
        ours, theirs = await _sending(conn, alive), await _sending(conn, dead)
        # Neither lock is held: `alive` lost its connection, `dead` is gone.
        released = await repository.release_orphans(conn, alive)
        assert released == 1
        assert (await _status(conn, ours), await _status(conn, theirs)) == ("sending", "pending")
        # Another replica (not `alive`) takes the unheld lock for an orphan: the lock is the rule.
        assert await repository.release_orphans(conn, uuid.uuid4()) == 1
        assert await _status(conn, ours) == "pending"
    finally:
        await conn.close()


async def test_a_delivery_sent_again_is_recorded_once(database_url: str) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    other = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    watcher = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:
        delivery_id = await _sending(conn, uuid.uuid4())
        first, second = conn.transaction(), other.transaction()
        await first.start()
        await second.start()
        assert await repository.already_sent(conn, [delivery_id]) == set()
        await conn.execute("UPDATE deliveries SET status = 'sent', sent_at = now() WHERE id = $1", delivery_id)
        # A second recorder of the same delivery waits for the first: the row is locked.
        waiting = asyncio.ensure_future(repository.already_sent(other, [delivery_id]))

        async def blocked() -> bool:
            return bool(
                await watcher.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", other.get_server_pid()
                )
            )

        await eventually(blocked)
        assert not waiting.done()
        await first.commit()
        # The first committed: the second sees the delivery sent, nothing to record or announce.
        assert await waiting == {delivery_id}
        await second.rollback()
    finally:
        for c in (conn, other, watcher):
            await c.close()
