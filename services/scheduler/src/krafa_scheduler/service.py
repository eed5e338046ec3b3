"""Use cases of the scheduler: plan a timeline, stop it, and sweep the steps that fell due."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from krafa_events import ClaimCreated, DueDatePassed, Event, ReminderDue
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_scheduler import domain, metrics, repository

log = logging.getLogger(__name__)


async def plan(uow: UnitOfWork, event: ClaimCreated) -> None:
    first = domain.send_moment(
        domain.step_day(1, event.due_date, event.final_due_date), event.jurisdiction, event.debtor.time_zone
    )
    await repository.insert_timeline(
        uow.conn,
        (
            event.claim_id,
            event.creditor_id,
            event.debtor_id,
            event.currency,
            event.due_date,
            event.final_due_date,
            event.jurisdiction,
            event.debtor.time_zone,
            first,
        ),
    )


def events_for_step(row: Any, step: domain.Step, now: datetime) -> list[Event]:
    events: list[Event] = []
    if step.number == 1:
        events.append(
            DueDatePassed(
                creditor_id=row["creditor_id"],
                debtor_id=row["debtor_id"],
                claim_id=row["claim_id"],
                due_date=row["due_date"],
                passed_at=now,
            )
        )
    events.append(
        ReminderDue(
            creditor_id=row["creditor_id"],
            debtor_id=row["debtor_id"],
            reminder_id=domain.reminder_id(row["claim_id"], step.number),
            claim_ids=(row["claim_id"],),
            step=step.number,
            channels=step.channels,
            template=step.template,
            tone=step.tone,
            currency=row["currency"],
            due_at=row["next_action_at"],
        )
    )
    return events


async def sweep_once(db: Database, clock: Clock, limit: int) -> int:
    """Fire every step due now, up to `limit`, in one transaction; returns how many fired."""
    now = clock.now()
    async with db.uow() as uow:
        rows = await repository.claim_due(uow.conn, now, limit)
        if not rows:
            return 0
        updates = []
        for row in rows:
            step = domain.STEPS[row["step"] + 1]
            for event in events_for_step(row, step, now):
                uow.outbox.add(event, time=now)
            if step.number < domain.LAST_STEP:
                next_at: datetime | None = domain.send_moment(
                    domain.step_day(step.number + 1, row["due_date"], row["final_due_date"]),
                    row["jurisdiction"],
                    row["time_zone"],
                )
                status = "active"
            else:
                next_at, status = None, "completed"
            updates.append((row["claim_id"], step.number, next_at, status))
        await repository.advance(uow.conn, updates)
        await uow.commit()
    for _, step_number, _, _ in updates:
        metrics.STEPS_FIRED.labels(str(step_number)).inc()
    return len(rows)


async def sweep_forever(db: Database, clock: Clock, batch_size: int, idle_wall_s: float) -> None:
    while True:
        try:
            fired = await sweep_once(db, clock, batch_size)
        except (OSError, ConnectionError) as exc:
            log.warning("sweep failed, retrying", extra={"error": repr(exc)})
            fired = 0
            await asyncio.sleep(1)
        if fired < batch_size:
            await asyncio.sleep(idle_wall_s)
