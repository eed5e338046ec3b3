"""The scheduler's part of a debtor's personal-data requests (claims-api owns the debtor).

The scheduler keys everything by ids: a claim's timeline (step, next action, the debtor's time
zone and country for the sending windows, customer class), the contacts it counted against the
debtor's contact budget. None of it names or reaches the debtor, so an
erasure changes no row here (published events about the debtor leave the outbox, as in every
service) and is answered at once; an export returns all of it, since it is still data about the
debtor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from krafa_events.catalog import (
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
    SchedulerPersonalDataHandled,
)
from krafa_kit import privacy
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork
from krafa_kit.personal_data import answer, plain_rows, request_routes

SERVICE = "scheduler"


async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: datetime) -> int:
    rows = await privacy.erase_outbox(uow.conn, event.creditor_id, event.debtor_id, [])
    await privacy.record_erasure(uow.conn, event.creditor_id, event.debtor_id, event.pseudonym, event.requested_at)
    answer(uow, SchedulerPersonalDataHandled, event, service=SERVICE, rows=rows, now=now)
    return rows


async def export(uow: UnitOfWork, event: PersonalDataExportRequested, now: datetime) -> None:
    conn = uow.conn
    timelines = await conn.fetch(
        "SELECT claim_id, status, step, next_action_at, stop_reason, due_date, final_due_date, jurisdiction, time_zone,"
        " updated_at FROM timelines WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY claim_id",
        event.creditor_id,
        event.debtor_id,
    )
    contacts = await conn.fetch(
        "SELECT channel, at, reminder_id FROM contacts WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY at",
        event.creditor_id,
        event.debtor_id,
    )
    data = {
        "timelines": plain_rows(timelines),
        "contacts": plain_rows(contacts),
    }
    answer(
        uow,
        SchedulerPersonalDataHandled,
        event,
        service=SERVICE,
        rows=len(timelines) + len(contacts),
        now=now,
        data=data,
    )


def build_routes(clock: Clock) -> dict[type[Any], Handler]:
    return request_routes(clock, erase, export)
