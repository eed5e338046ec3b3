"""The scheduler's part of a debtor's personal-data requests (claims-api owns the debtor).

The scheduler keys everything by ids: a claim's timeline (step, next action, the debtor's time
zone and country for the sending windows, customer class), the contacts it counted against the
debtor's contact budget. None of it names or reaches the debtor, so an
erasure changes no row here (published events about the debtor leave the outbox, as in every
service) and is answered at once; an export returns all of it, since it is still data about the
debtor.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from krafa_events import DecodedEvent
from krafa_events.catalog import (
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
    SchedulerPersonalDataHandled,
)
from krafa_kit import privacy
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

SERVICE = "scheduler"


async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: datetime) -> int:
    rows = await privacy.erase_outbox(uow.conn, event.creditor_id, event.debtor_id, [])
    await privacy.record_erasure(uow.conn, event.creditor_id, event.debtor_id, event.pseudonym, event.requested_at)
    uow.outbox.add(
        SchedulerPersonalDataHandled(
            creditor_id=event.creditor_id,
            debtor_id=event.debtor_id,
            request_id=event.request_id,
            request="erasure",
            service=SERVICE,
            rows=rows,
            handled_at=now,
        ),
        time=now,
    )
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


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
        "timelines": [{k: _plain(v) for k, v in dict(t).items()} for t in timelines],
        "contacts": [{k: _plain(v) for k, v in dict(c).items()} for c in contacts],
    }
    uow.outbox.add(
        SchedulerPersonalDataHandled(
            creditor_id=event.creditor_id,
            debtor_id=event.debtor_id,
            request_id=event.request_id,
            request="export",
            service=SERVICE,
            rows=len(timelines) + len(contacts),
            data=data,
            handled_at=now,
        ),
        time=now,
    )


def build_routes(clock: Clock) -> dict[type[Any], Handler]:
    async def on_erasure(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, PersonalDataErasureRequested)
        await erase(uow, envelope.event, clock.now())

    async def on_export(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, PersonalDataExportRequested)
        await export(uow, envelope.event, clock.now())

    return {PersonalDataErasureRequested: on_erasure, PersonalDataExportRequested: on_export}
