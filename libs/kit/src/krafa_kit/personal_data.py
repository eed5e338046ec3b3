"""What every service's answer to a personal-data request shares: the consumer routes for the
erasure and export requests, the answer (the service's PersonalDataHandled, in the same
transaction as the rows it pseudonymised or read), and plain JSON values for an export's part.
Which rows a service holds about a debtor, and how it pseudonymises them, stay in the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from krafa_events import DecodedEvent, Event
from krafa_events.catalog import PersonalDataErasureRequested, PersonalDataExportRequested, PersonalDataHandled

from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

Erase = Callable[[UnitOfWork, PersonalDataErasureRequested, datetime], Awaitable[Any]]
Export = Callable[[UnitOfWork, PersonalDataExportRequested, datetime], Awaitable[Any]]


def request_routes(clock: Clock, erase: Erase, export: Export) -> dict[type[Event], Handler]:
    """The consumer's routes for both requests, each use case called at the service's now."""

    async def on_erasure(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, PersonalDataErasureRequested)
        await erase(uow, envelope.event, clock.now())

    async def on_export(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, PersonalDataExportRequested)
        await export(uow, envelope.event, clock.now())

    return {PersonalDataErasureRequested: on_erasure, PersonalDataExportRequested: on_export}


def answer(
    uow: UnitOfWork,
    handled: type[PersonalDataHandled],
    request: PersonalDataErasureRequested | PersonalDataExportRequested,
    *,
    service: str,
    rows: int,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """The service's answer to `request` (its own PersonalDataHandled type), into the outbox."""
    uow.outbox.add(
        handled(
            creditor_id=request.creditor_id,
            debtor_id=request.debtor_id,
            request_id=request.request_id,
            request="erasure" if isinstance(request, PersonalDataErasureRequested) else "export",
            service=service,
            rows=rows,
            data=data,
            handled_at=now,
        ),
        time=now,
    )


def plain(value: Any) -> Any:
    """A column's value as JSON: dates and instants in ISO 8601, anything else not JSON as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def plain_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{key: plain(value) for key, value in dict(row).items()} for row in rows]
