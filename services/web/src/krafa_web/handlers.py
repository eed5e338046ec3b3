"""What the web learns from the other services: each reminder's personal link (ReminderSent) and
the handover notices creditors may react to (CreditorNoticeDue)."""

from __future__ import annotations

from krafa_events import DecodedEvent, Event, ReminderSent
from krafa_events.catalog import CreditorNoticeDue
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_web.service import Portal
from krafa_web.staff import service as staff


def build_routes(portal: Portal) -> dict[type[Event], Handler]:
    async def on_reminder_sent(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, ReminderSent)
        await portal.record_link(uow, event)

    async def on_creditor_notice_due(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        assert isinstance(event, CreditorNoticeDue)
        await staff.record_notice(uow, event)

    return {ReminderSent: on_reminder_sent, CreditorNoticeDue: on_creditor_notice_due}
