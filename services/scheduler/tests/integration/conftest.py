"""The scheduler's engine over the real PostgreSQL without the broker: events go in through the
same handlers and inbox the consumer uses, the sweep runs on a manual clock, and what it emits is
read back from the outbox in order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from krafa_events import Event, decode, encode
from krafa_kit.clock import ManualClock
from krafa_kit.db import Database
from krafa_kit.migrations import migrate_async
from krafa_scheduler import repository, service
from krafa_scheduler.app import MIGRATIONS, SCHEMA
from krafa_scheduler.handlers import make_routes


@dataclass
class Engine:
    db: Database
    clock: ManualClock
    seen: int = 0

    async def deliver(self, *events: Event) -> None:
        """Each event through its handler in its own unit of work, as the consumer does."""
        routes = make_routes(self.clock)
        for event in events:
            encoded = encode(event, source="/krafa/test")
            decoded = decode(list(encoded.headers), encoded.value, encoded.key)
            async with self.db.uow() as uow:
                await routes[type(event)](uow, decoded)
                await uow.commit()

    async def sweep(self) -> int:
        fired = 0
        while (n := await service.sweep_once(self.db, self.clock, 1000)) > 0:
            fired += n
        return fired

    async def run_until(self, end: datetime, step: timedelta = timedelta(days=1)) -> None:
        """Walk the clock forward day by day, and to every timer due in between (as the sweeper
        wakes for it), sweeping at each tick; never past `end`."""
        while self.clock.now() < end:
            async with self.db.connection() as conn:
                due = await repository.next_due_at(conn)
                retry = await conn.fetchval("SELECT min(due_at) FROM call_retries WHERE fired_at IS NULL")
            now = self.clock.now()
            tick = min(t for t in (now + step, end, due, retry) if t is not None and t > now) if due != now else now
            self.clock.set(tick)
            if await self.sweep() == 0 and tick == now:
                self.clock.set(min(now + step, end))  # a timer due now that nothing fires: move on

    async def emitted(self) -> list[Event]:
        async with self.db.connection() as conn:
            rows = await conn.fetch("SELECT headers, value, key FROM outbox ORDER BY id")
        return [self.decode_row(row) for row in rows]

    @staticmethod
    def decode_row(row: Any) -> Event:
        headers = [(k, v.encode()) for k, v in _headers(row["headers"])]
        return decode(headers, bytes(row["value"]), bytes(row["key"])).event

    async def new_events(self) -> list[Event]:
        events = await self.emitted()
        fresh = events[self.seen :]
        self.seen = len(events)
        return fresh

    async def timeline(self, claim_id: Any) -> dict[str, Any]:
        async with self.db.connection() as conn:
            row = await conn.fetchrow("SELECT * FROM timelines WHERE claim_id = $1", claim_id)
        assert row is not None
        return dict(row)


def _headers(text: str) -> list[tuple[str, str]]:
    value = json.loads(text)
    return [(str(k), str(v)) for k, v in (value.items() if isinstance(value, dict) else value)]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Engine]:
    await migrate_async(database_url, SCHEMA, MIGRATIONS)
    db = Database(database_url, SCHEMA, pool_size=4)
    await db.connect()
    try:
        yield Engine(db, ManualClock(datetime(2026, 2, 1, 12, tzinfo=UTC)))
    finally:
        await db.close()
