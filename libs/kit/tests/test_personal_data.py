"""The plumbing every service's answer to a personal-data request shares."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from krafa_events import DecodedEvent, Event
from krafa_events.catalog import (
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
    SchedulerPersonalDataHandled,
)
from krafa_kit.clock import ManualClock
from krafa_kit.db import UnitOfWork
from krafa_kit.personal_data import answer, plain, plain_rows, request_routes

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


class _Outbox:
    def __init__(self) -> None:
        self.added: list[tuple[Event, datetime | None]] = []

    def add(self, event: Event, *, time: datetime | None = None) -> str:
        self.added.append((event, time))
        return str(uuid.uuid4())


class _Uow:
    def __init__(self) -> None:
        self.outbox = _Outbox()


def _erasure() -> PersonalDataErasureRequested:
    return PersonalDataErasureRequested(
        creditor_id=uuid.uuid4(),
        debtor_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        pseudonym="Debtor 7",
        requested_at=NOW,
    )


def _export() -> PersonalDataExportRequested:
    return PersonalDataExportRequested(
        creditor_id=uuid.uuid4(), debtor_id=uuid.uuid4(), request_id=uuid.uuid4(), requested_at=NOW
    )


def test_an_answer_names_the_request_its_kind_and_what_the_service_did() -> None:
    uow = _Uow()
    request = _export()
    answer(
        cast(UnitOfWork, uow),
        SchedulerPersonalDataHandled,
        request,
        service="scheduler",
        rows=2,
        now=NOW,
        data={"timelines": []},
    )
    [(event, time)] = uow.outbox.added
    assert isinstance(event, SchedulerPersonalDataHandled) and time == NOW
    assert (event.creditor_id, event.debtor_id, event.request_id) == (
        request.creditor_id,
        request.debtor_id,
        request.request_id,
    )
    assert (event.request, event.service, event.rows, event.data) == ("export", "scheduler", 2, {"timelines": []})
    answer(cast(UnitOfWork, uow), SchedulerPersonalDataHandled, _erasure(), service="scheduler", rows=0, now=NOW)
    erased = uow.outbox.added[1][0]
    assert isinstance(erased, SchedulerPersonalDataHandled) and erased.request == "erasure" and erased.data is None


async def test_the_routes_call_each_use_case_at_the_services_now() -> None:
    calls: list[tuple[str, Any, datetime]] = []

    async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: datetime) -> int:
        calls.append(("erase", event, now))
        return 0

    async def export(uow: UnitOfWork, event: PersonalDataExportRequested, now: datetime) -> None:
        calls.append(("export", event, now))

    routes = request_routes(ManualClock(NOW), erase, export)
    assert set(routes) == {PersonalDataErasureRequested, PersonalDataExportRequested}
    for request in (_erasure(), _export()):
        envelope = DecodedEvent(
            id=str(uuid.uuid4()),
            type=request.TYPE,
            source="claims-api",
            time=NOW,
            subject=None,
            traceparent=None,
            event=request,
        )
        await routes[type(request)](cast(UnitOfWork, _Uow()), envelope)
    assert [(name, type(event), now) for name, event, now in calls] == [
        ("erase", PersonalDataErasureRequested, NOW),
        ("export", PersonalDataExportRequested, NOW),
    ]


def test_an_exports_values_are_plain_json() -> None:
    row = {
        "at": NOW,
        "day": date(2026, 3, 1),
        "id": uuid.UUID(int=7),
        "rate": Decimal("12.5"),
        "n": 3,
        "none": None,
        "tags": [date(2026, 1, 1)],
        "ok": True,
    }
    assert plain_rows([row]) == [
        {
            "at": "2026-03-02T09:00:00+00:00",
            "day": "2026-03-01",
            "id": "00000000-0000-0000-0000-000000000007",
            "rate": "12.5",
            "n": 3,
            "none": None,
            "tags": ["2026-01-01"],
            "ok": True,
        }
    ]
    assert plain("text") == "text"
