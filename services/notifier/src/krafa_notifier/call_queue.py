"""Use cases of the agents' call queue (docs/domain.md: SMS, email and phone): what is due now, claiming the next
call so two agents never get the same one (FOR UPDATE SKIP LOCKED), recording the outcome (a
CallOutcomeRecorded event for claims-api and the scheduler), and the inbound-call lookup."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import asyncpg
from krafa_events.catalog import CallOutcomeRecorded, Instalment
from krafa_kit.db import Database

from krafa_notifier import calls, repository

Outcome = Literal["reached", "no_answer", "promise_to_pay", "deferral", "instalments", "dispute"]


class CallTaskConflict(Exception):
    """The task is not open for an outcome (already done, or claimed by another agent)."""


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    status: str  # "done", or "open" when a no-answer call was put back for its next window
    next_window_opens_at: datetime | None


def task_view(row: asyncpg.Record) -> dict[str, Any]:
    debtor = row["debtor"] or {}
    return {
        "task_id": str(row["id"]),
        "reminder_id": str(row["reminder_id"]),
        "creditor_id": str(row["creditor_id"]),
        "debtor_id": str(row["debtor_id"]),
        "claim_ids": [str(c) for c in row["claim_ids"]],
        "step": row["step"],
        "status": row["status"],
        "attempts": row["attempts"],
        "window_opens_at": row["window_opens_at"].isoformat(),
        "window_closes_at": row["window_closes_at"].isoformat(),
        "claimed_by": row["claimed_by"],
        "debtor_name": debtor.get("name"),
        "phone": debtor.get("phone"),
        "language": debtor.get("language"),
        "time_zone": debtor.get("time_zone"),
    }


def _where(row: asyncpg.Record) -> tuple[str | None, str]:
    debtor = row["debtor"] or {}
    return debtor.get("time_zone"), str(debtor.get("country") or "IS")


async def _roll_lapsed(conn: asyncpg.Connection, now: datetime) -> None:
    """Tasks whose window passed uncalled, or that an agent claimed and abandoned, move to the
    next window (not counted as an attempt: nobody rang)."""
    for row in await repository.lapsed_call_tasks(conn, now):
        time_zone, country = _where(row)
        window = calls.window_at_or_after(now, time_zone=time_zone, country=country)
        await repository.reschedule_call_task(conn, row["id"], window.opens_at, window.closes_at, attempted=False)


async def due(db: Database, now: datetime, limit: int) -> list[dict[str, Any]]:
    async with db.uow() as uow:
        await _roll_lapsed(uow.conn, now)
        rows = await repository.due_call_tasks(uow.conn, now, limit, lock=False)
        await uow.commit()
    return [task_view(r) for r in rows]


async def claim_next(db: Database, now: datetime, agent: str) -> dict[str, Any] | None:
    async with db.uow() as uow:
        await _roll_lapsed(uow.conn, now)
        rows = await repository.due_call_tasks(uow.conn, now, 1, lock=True)
        if not rows:
            await uow.commit()
            return None
        await repository.claim_call_task(uow.conn, rows[0]["id"], agent, now)
        claimed = await repository.call_task(uow.conn, rows[0]["id"])
        await uow.commit()
    assert claimed is not None
    return task_view(claimed)


async def record_outcome(
    db: Database,
    now: datetime,
    task_id: uuid.UUID,
    *,
    outcome: Outcome,
    agent: str | None,
    promised_date: date | None,
    instalments: tuple[Instalment, ...],
    note: str | None,
) -> RecordedOutcome | None:
    """None if there is no such task."""
    async with db.uow() as uow:
        row = await repository.call_task(uow.conn, task_id, lock=True)
        if row is None:
            return None
        if row["status"] == "done" or (row["status"] == "claimed" and agent and row["claimed_by"] != agent):
            raise CallTaskConflict(f"the task is {row['status']}" + (f" by {row['claimed_by']}" if agent else ""))
        result = RecordedOutcome("done", None)
        time_zone, country = _where(row)
        if outcome == "no_answer" and row["attempts"] + 1 < calls.max_attempts(country):
            # Morning unanswered → the afternoon window; afternoon → the next calling morning.
            window = calls.retry_window(now, time_zone=time_zone, country=country)
            await repository.reschedule_call_task(uow.conn, task_id, window.opens_at, window.closes_at, attempted=True)
            result = RecordedOutcome("open", window.opens_at)
        else:
            await repository.finish_call_task(uow.conn, task_id, outcome)
        uow.outbox.add(
            CallOutcomeRecorded(
                creditor_id=row["creditor_id"],
                debtor_id=row["debtor_id"],
                task_id=task_id,
                reminder_id=row["reminder_id"],
                claim_ids=tuple(row["claim_ids"]),
                outcome=outcome,
                promised_date=promised_date,
                instalments=instalments,
                note=note,
                agent=agent,
                recorded_at=now,
            ),
            time=now,
        )
        await uow.commit()
    return result


async def lookup(db: Database, phone: str) -> list[dict[str, Any]]:
    """The open cases of whoever calls from `phone` (E.164), across creditors, so the agent's
    screen shows the name and the case when a debtor returns a missed call."""
    async with db.connection() as conn:
        rows = await repository.open_claims_by_phone(conn, phone)
    return [
        {
            "claim_id": str(r["claim_id"]),
            "creditor_id": str(r["creditor_id"]),
            "creditor_name": r["creditor_name"],
            "debtor_id": str(r["debtor_id"]),
            "debtor_name": r["debtor_name"],
            "invoice_no": r["invoice_no"],
            "amount_minor": r["amount_minor"] + r["fees_minor"],
            "currency": r["currency"],
            "due_date": r["due_date"].isoformat(),
            "reference": r["reference"],
            "status": r["status"],
        }
        for r in rows
    ]
