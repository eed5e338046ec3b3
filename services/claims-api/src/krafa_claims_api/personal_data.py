"""A debtor's personal data across the services: erasure and export as the creditor asks for them.

claims-api owns the debtor, but every other service keeps copies (krafa_events.catalog: the
personal-data events). An erasure pseudonymises what claims-api holds (debtors.service.erase:
name, national id, address, contact points; here also the free text that quotes them: claim
history, webhook payloads, stored idempotent answers, the debtor's arrangement notes, the outbox)
and asks every service that holds personal data to do the same with theirs, in the same
transaction; it is complete when every one of them has answered. An export takes claims-api's
part at once and asks the others for theirs; the document is complete when every part is in.
Both are requests the creditor can read back: which services answered, when, how many rows. An
erasure drops the documents of earlier exports of the debtor (they are copies of what it erases).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import DecodedEvent
from krafa_events.catalog import (
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
    PersonalDataHandled,
)
from krafa_events.registry import HANDLED_BY, privacy_services
from krafa_kit import privacy
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork

from krafa_claims_api.debtors import repository, service
from krafa_claims_api.debtors.domain import Debtor, pseudonym

OWN = "claims-api"


@dataclass(frozen=True, slots=True)
class Answer:
    service: str
    rows: int | None  # None: not answered yet
    handled_at: datetime | None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Request:
    id: UUID
    debtor_id: UUID
    kind: str
    requested_at: datetime
    completed_at: datetime | None
    answers: list[Answer]
    own_part: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


def _values(debtor: Debtor) -> list[str | None]:
    """What of the debtor could be quoted in free text: name, national id, address, contact points."""
    address = debtor.master.get("address") or {}
    return [
        debtor.master.get("name"),
        debtor.master.get("national_id"),
        *address.get("lines", ()),
        *(cp.value for cp in debtor.contact_points),
    ]


async def erase(uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, now: datetime) -> tuple[Debtor, Request, bool]:
    """Erase the debtor's personal data here and ask every other service to; returns the debtor
    as it is now, the erasure request, and whether this call made it (a repeat changes nothing)."""
    before = await repository.get(uow.conn, creditor_id, debtor_id, lock=True)
    if before is None:
        raise service.NOT_FOUND
    if before.erased_at is not None:
        latest = await latest_request(uow.conn, creditor_id, debtor_id, "erasure")
        if latest is not None:
            return before, latest, False
    patterns = privacy.needles(_values(before)) if before.erased_at is None else []
    request_id = uuid.uuid4()
    services = list(privacy_services())
    await repository.add_privacy_request(uow.conn, request_id, creditor_id, debtor_id, "erasure", services, None, now)
    # The request goes out before the pseudonymised DebtorUpdated (same topic and key, so in this
    # order): a service that keeps a copy of the debtor (the notifier) still has the real name and
    # address to find in the messages it sent when it erases, not already the pseudonym.
    uow.outbox.add(
        PersonalDataErasureRequested(
            creditor_id=creditor_id,
            debtor_id=debtor_id,
            request_id=request_id,
            pseudonym=pseudonym(debtor_id),
            requested_at=now,
        ),
        time=now,
    )
    debtor, erased_now = await service.erase(uow, creditor_id, debtor_id, now)
    await repository.scrub_free_text(uow.conn, creditor_id, debtor_id, patterns, privacy.ERASED)
    # Earlier exports are copies of the very data being erased.
    await repository.drop_export_documents(uow.conn, creditor_id, debtor_id)
    await privacy.erase_outbox(uow.conn, creditor_id, debtor_id, patterns)
    request = await get_request(uow.conn, creditor_id, debtor_id, request_id)
    assert request is not None
    return debtor, request, erased_now


async def request_export(
    uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, own: dict[str, Any], now: datetime
) -> Request:
    """Keep claims-api's part of the debtor's export (`own`, taken in this transaction by the
    caller, in the API's shapes) and ask every other service for theirs."""
    request_id = uuid.uuid4()
    services = list(privacy_services())
    await repository.add_privacy_request(uow.conn, request_id, creditor_id, debtor_id, "export", services, own, now)
    uow.outbox.add(
        PersonalDataExportRequested(
            creditor_id=creditor_id, debtor_id=debtor_id, request_id=request_id, requested_at=now
        ),
        time=now,
    )
    request = await get_request(uow.conn, creditor_id, debtor_id, request_id)
    assert request is not None
    return request


async def get_request(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, request_id: UUID) -> Request | None:
    row = await repository.privacy_request(conn, creditor_id, debtor_id, request_id)
    return None if row is None else await _request(conn, row)


async def latest_request(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, kind: str) -> Request | None:
    row = await repository.latest_privacy_request(conn, creditor_id, debtor_id, kind)
    return None if row is None else await _request(conn, row)


async def _request(conn: asyncpg.Connection, row: asyncpg.Record) -> Request:
    answered = {a["service"]: a for a in await repository.privacy_answers(conn, row["id"])}
    answers = [
        Answer(name, answered[name]["rows"], answered[name]["handled_at"], answered[name]["data"])
        if name in answered
        else Answer(name, None, None)
        for name in row["services"]
    ]
    return Request(
        id=row["id"],
        debtor_id=row["debtor_id"],
        kind=row["kind"],
        requested_at=row["requested_at"],
        completed_at=row["completed_at"],
        answers=answers,
        own_part=row["own_part"],
    )


async def record_answer(uow: UnitOfWork, event: PersonalDataHandled) -> None:
    """A service's answer: kept, and the request completed when it was the last one. Only an answer
    from a service the request named, for the request's creditor and debtor, counts."""
    row = await repository.privacy_request(uow.conn, event.creditor_id, event.debtor_id, event.request_id, lock=True)
    if row is None or event.service not in row["services"] or HANDLED_BY.get(event.service) is not type(event):
        return
    data = event.data
    if row["kind"] == "export" and await repository.erased_since(uow.conn, event.debtor_id, row["requested_at"]):
        data = None  # the debtor was erased while this export was being gathered
    await repository.add_privacy_answer(uow.conn, event.request_id, event.service, event.rows, data, event.handled_at)
    await repository.complete_if_answered(uow.conn, event.request_id, event.handled_at)


def build_routes() -> dict[type[Any], Handler]:
    async def on_handled(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        assert isinstance(envelope.event, PersonalDataHandled)
        await record_answer(uow, envelope.event)

    return dict.fromkeys(HANDLED_BY.values(), on_handled)
