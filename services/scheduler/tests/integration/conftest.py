"""The scheduler's engine over the real PostgreSQL without the broker: events go in through the
same handlers and inbox the consumer uses, the sweep runs on a manual clock, and what it emits is
read back from the outbox in order. Unless told otherwise, every reminder is reported sent the
moment it falls due — the ReminderSent the notifier would publish — so a notice's gap runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from krafa_events import Event, decode, encode
from krafa_events.catalog import ClaimCreated, ReminderDue, ReminderSent
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
    # How long after it fell due a reminder is reported sent; None: never (no notifier).
    send_delay: Callable[[ReminderDue], timedelta | None] = lambda r: timedelta(0)
    # A policy document every creditor of a delivered ClaimCreated gets as its own first.
    pinned: dict[str, Any] | None = None
    sends: list[tuple[datetime, ReminderSent]] = field(default_factory=list)
    _reported: int = 0
    _pinned_for: set[UUID] = field(default_factory=set)

    def pin(self, document: dict[str, Any]) -> None:
        self.pinned = document

    async def deliver(self, *events: Event) -> None:
        """Each event through its handler in its own unit of work, as the consumer does."""
        routes = make_routes(self.clock)
        for event in events:
            if isinstance(event, ClaimCreated) and self.pinned and event.creditor_id not in self._pinned_for:
                async with self.db.uow() as uow:
                    await repository.insert_policy(uow.conn, event.creditor_id, "", "", self.pinned)
                    await uow.commit()
                self._pinned_for.add(event.creditor_id)
            encoded = encode(event, source="/krafa/test")
            decoded = decode(list(encoded.headers), encoded.value, encoded.key)
            async with self.db.uow() as uow:
                await routes[type(event)](uow, decoded)
                await uow.commit()

    async def sweep(self) -> int:
        fired = 0
        while (n := await service.sweep_once(self.db, self.clock, 1000)) > 0:
            fired += n
        await self._report_sends()
        return fired

    async def _report_sends(self) -> None:
        """The notifier's part: each new reminder reported sent after `send_delay`."""
        events = await self.emitted()
        for event in events[self._reported :]:
            if isinstance(event, ReminderDue):
                delay = self.send_delay(event)
                if delay is not None:
                    sent = ReminderSent(
                        creditor_id=event.creditor_id, debtor_id=event.debtor_id, delivery_id=uuid4(),
                        reminder_id=event.reminder_id, claim_ids=event.claim_ids, step=event.step,
                        channel=event.channels[0], recipient="debtor", sent_at=event.due_at + delay,
                    )  # fmt: skip
                    self.sends.append((sent.sent_at, sent))
        self._reported = len(events)
        due = sorted((s for s in self.sends if s[0] <= self.clock.now()), key=lambda s: s[0])
        self.sends = [s for s in self.sends if s[0] > self.clock.now()]
        for _, sent in due:
            await self.deliver(sent)

    async def run_until(self, end: datetime, step: timedelta = timedelta(days=1)) -> None:
        """Walk the clock forward day by day, and to every timer due in between (as the sweeper
        wakes for it), sweeping at each tick; never past `end`."""
        while self.clock.now() < end:
            async with self.db.connection() as conn:
                due = await repository.next_due_at(conn)
            send = min((at for at, _ in self.sends), default=None)
            now = self.clock.now()
            tick = min(t for t in (now + step, end, due, send) if t is not None and t > now) if due != now else now
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
