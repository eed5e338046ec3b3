"""The bounce-handler's part of a debtor's personal-data requests (claims-api owns the debtor).

What it holds about a debtor: the address each reminder email went to (`deliveries`), the
messages that came back for those deliveries, whole (`inbound_messages.raw`: a returned message
quotes the reminder, with the debtor's name and address), the bounces read from them and the
provider webhooks about them. An erasure pseudonymises all of it in the transaction that records
the request in the inbox: addresses become the pseudonym's, returned messages are dropped (their
hash stays, so a repeat is still recognised), free text is scrubbed. A reminder sent before the
erasure whose ReminderSent, bounce or webhook arrives after it is pseudonymised as it is recorded
(`pseudonymise_late`). An export returns all of it, returned messages included.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from krafa_events.catalog import (
    BouncesPersonalDataHandled,
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
)
from krafa_kit import privacy
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import Connection, UnitOfWork
from krafa_kit.personal_data import answer, request_routes

SERVICE = "bounce-handler"
# A returned message in an export: enough to read any real one, bounded so that an export stays
# one Kafka record.
MAX_EXPORTED_MESSAGE = 256 * 1024
ERASED_MESSAGE = b"[erased]"


async def _deliveries(conn: Connection, creditor_id: UUID, debtor_id: UUID, only: UUID | None = None) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT delivery_id, reminder_id, claim_ids, step, recipient, sent_at FROM deliveries"
            " WHERE creditor_id = $1 AND debtor_id = $2 AND ($3::uuid IS NULL OR delivery_id = $3)"
            " ORDER BY sent_at, delivery_id FOR UPDATE",
            creditor_id,
            debtor_id,
            only,
        )
    )


async def _pseudonymise(conn: Connection, deliveries: list[Any], stand_in: str) -> int:
    """Pseudonymise these deliveries and everything that came back for them; returns the rows."""
    ids = [d["delivery_id"] for d in deliveries]
    if not ids:
        return 0
    bounces = await conn.fetch(
        "SELECT id, recipient, reported_address, reason, report FROM bounces WHERE delivery_id = ANY($1::uuid[])",
        ids,
    )
    patterns = privacy.needles(
        [d["recipient"] for d in deliveries]
        + [b["recipient"] for b in bounces]
        + [b["reported_address"] for b in bounces]
    )
    address = privacy.pseudonym_email(stand_in)
    rows = int(
        (
            await conn.execute(
                "UPDATE deliveries SET recipient = $2 WHERE delivery_id = ANY($1::uuid[]) AND recipient <> $2",
                ids,
                address,
            )
        ).split()[-1]
    )
    for bounce in bounces:
        report = privacy.scrub_json(bounce["report"], patterns)
        await conn.execute(
            "UPDATE bounces SET recipient = CASE WHEN recipient IS NULL THEN NULL ELSE $2 END,"
            " reported_address = CASE WHEN reported_address IS NULL THEN NULL ELSE $2 END,"
            " reason = $3, report = $4 WHERE id = $1",
            bounce["id"],
            address,
            privacy.scrub(bounce["reason"], patterns),
            report,
        )
        rows += 1
    rows += int(
        (
            await conn.execute(
                "UPDATE inbound_messages SET raw = $2, detail = NULL WHERE delivery_id = ANY($1::uuid[]) AND raw <> $2",
                ids,
                ERASED_MESSAGE,
            )
        ).split()[-1]
    )
    for hook in await conn.fetch("SELECT id, body FROM webhook_events WHERE delivery_id = ANY($1::uuid[])", ids):
        text = bytes(hook["body"]).decode("utf-8", errors="replace")
        scrubbed = privacy.scrub(text, patterns) or ""
        if scrubbed != text:
            await conn.execute("UPDATE webhook_events SET body = $2 WHERE id = $1", hook["id"], scrubbed.encode())
            rows += 1
    return rows


async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: datetime) -> int:
    conn = uow.conn
    deliveries = await _deliveries(conn, event.creditor_id, event.debtor_id)
    patterns = privacy.needles([d["recipient"] for d in deliveries])
    rows = await _pseudonymise(conn, deliveries, event.pseudonym)
    rows += await privacy.erase_outbox(conn, event.creditor_id, event.debtor_id, patterns)
    await privacy.record_erasure(conn, event.creditor_id, event.debtor_id, event.pseudonym, event.requested_at)
    answer(uow, BouncesPersonalDataHandled, event, service=SERVICE, rows=rows, now=now)
    return rows


async def pseudonymise_late(conn: Connection, delivery_id: UUID) -> None:
    """A delivery (or something that came back for it) recorded after its debtor's erasure: when
    it was sent before the erasure, it is pseudonymised like the rest."""
    row = await conn.fetchrow(
        "SELECT d.creditor_id, d.debtor_id, s.pseudonym FROM deliveries d JOIN erased_subjects s"
        " ON s.creditor_id = d.creditor_id AND s.debtor_id = d.debtor_id"
        " WHERE d.delivery_id = $1 AND d.sent_at <= s.erased_at",
        delivery_id,
    )
    if row is None:
        return
    deliveries = await _deliveries(conn, row["creditor_id"], row["debtor_id"], delivery_id)
    await _pseudonymise(conn, deliveries, row["pseudonym"])


async def export(uow: UnitOfWork, event: PersonalDataExportRequested, now: datetime) -> None:
    conn = uow.conn
    deliveries = list(
        await conn.fetch(
            "SELECT delivery_id, reminder_id, claim_ids, step, recipient, return_path, sent_at FROM deliveries"
            " WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY sent_at, delivery_id",
            event.creditor_id,
            event.debtor_id,
        )
    )
    ids = [d["delivery_id"] for d in deliveries]
    bounces = await conn.fetch(
        "SELECT id, delivery_id, state, recipient, reported_address, kind, status, reason, source, received_at"
        " FROM bounces WHERE delivery_id = ANY($1::uuid[]) ORDER BY received_at, id",
        ids,
    )
    messages = await conn.fetch(
        "SELECT id, received_at, mail_from, verdict, size_bytes, raw, delivery_id FROM inbound_messages"
        " WHERE delivery_id = ANY($1::uuid[]) ORDER BY received_at, id",
        ids,
    )
    hooks = await conn.fetch(
        "SELECT id, provider, received_at, event, outcome, delivery_id, body FROM webhook_events"
        " WHERE delivery_id = ANY($1::uuid[]) ORDER BY received_at, id",
        ids,
    )

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    data = {
        "deliveries": [
            {
                "delivery_id": str(d["delivery_id"]),
                "claim_ids": [str(c) for c in d["claim_ids"]],
                "step": d["step"],
                "recipient": d["recipient"],
                "sent_at": at(d["sent_at"]),
            }
            for d in deliveries
        ],
        "bounces": [
            {
                "id": str(b["id"]),
                "delivery_id": str(b["delivery_id"]),
                "state": b["state"],
                "recipient": b["recipient"],
                "reported_address": b["reported_address"],
                "kind": b["kind"],
                "status": b["status"],
                "reason": b["reason"],
                "source": b["source"],
                "received_at": at(b["received_at"]),
            }
            for b in bounces
        ],
        "returned_messages": [
            {
                "id": str(m["id"]),
                "delivery_id": str(m["delivery_id"]),
                "received_at": at(m["received_at"]),
                "verdict": m["verdict"],
                "size_bytes": m["size_bytes"],
                "message": bytes(m["raw"][:MAX_EXPORTED_MESSAGE]).decode("utf-8", errors="replace"),
                "truncated": m["size_bytes"] > MAX_EXPORTED_MESSAGE,
            }
            for m in messages
        ],
        "provider_events": [
            {
                "id": str(h["id"]),
                "provider": h["provider"],
                "delivery_id": str(h["delivery_id"]),
                "received_at": at(h["received_at"]),
                "event": h["event"],
                "body": _json_or_text(bytes(h["body"])),
            }
            for h in hooks
        ],
    }
    answer(
        uow,
        BouncesPersonalDataHandled,
        event,
        service=SERVICE,
        rows=len(deliveries) + len(bounces) + len(messages) + len(hooks),
        now=now,
        data=data,
    )


def _json_or_text(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_routes(clock: Clock) -> dict[type[Any], Handler]:
    return request_routes(clock, erase, export)
