"""The notifier's part of a debtor's personal-data requests (claims-api owns the debtor).

What the notifier holds about a debtor: the contact snapshot (`debtors`, and the copy each claim
took at creation in `claims_view.debtor`), the address, number or postal name each reminder went
to (`deliveries.recipient`, and provider errors that may quote it), the message as it was sent
(`deliveries.content`: the debtor's name and address on it), the suppression of addresses
that bounced, and the call tasks. An erasure pseudonymises all of it in the transaction that
records the request in the inbox; a suppressed address is kept only as a hash, so it is still
never written to again; a send in flight when the erasure came is pseudonymised as it is
recorded (the `deliveries_of_erased` trigger). An export returns all of it.
"""

from __future__ import annotations

import json
from typing import Any

from krafa_events.catalog import (
    NotifierPersonalDataHandled,
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
)
from krafa_kit import privacy
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork
from krafa_kit.personal_data import answer, request_routes

from krafa_notifier import repository

SERVICE = "notifier"


def _snapshot_values(snapshot: dict[str, Any] | None) -> list[str | None]:
    if not snapshot:
        return []
    address = snapshot.get("address") or {}
    return [
        snapshot.get("name"),
        snapshot.get("email"),
        snapshot.get("phone"),
        address.get("name"),
        *address.get("lines", ()),
    ]


def pseudonymised(snapshot: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    """The snapshot an erased debtor leaves: the pseudonym, no way to reach them."""
    return {**snapshot, "name": pseudonym, "email": None, "phone": None, "address": None, "netbank_opt_in": False}


async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: Any) -> int:
    conn = uow.conn
    creditor_id, debtor_id, stand_in = event.creditor_id, event.debtor_id, event.pseudonym
    held = await repository.personal_data_of(conn, creditor_id, debtor_id)
    values: list[str | None] = []
    for snapshot in held.snapshots:
        values += _snapshot_values(snapshot)
    values += [d["recipient"] for d in held.deliveries]
    values += held.payor_ids
    patterns = privacy.needles(values)
    rows = 0
    if held.snapshots:
        base = held.snapshots[0]
        rows += await repository.replace_debtor_snapshots(
            conn, creditor_id, debtor_id, json.loads(json.dumps(pseudonymised(base, stand_in)))
        )
    for delivery in held.deliveries:
        recipient = delivery["recipient"]
        if recipient is not None:
            recipient = privacy.pseudonym_email(stand_in) if delivery["channel"] == "email" else stand_in
        content = delivery["content"]
        await repository.pseudonymise_delivery(
            conn,
            delivery["id"],
            recipient,
            privacy.scrub(delivery["last_error"], patterns),
            privacy.scrub_json(content, patterns) if content is not None else None,
        )
        rows += 1
    rows += await repository.drop_payor_ids(conn, creditor_id, debtor_id)
    addresses = {v.lower() for v in values if v and ("@" in v or v.startswith("+"))}
    rows += await repository.hash_suppressions(conn, creditor_id, sorted(addresses))
    rows += await privacy.erase_outbox(conn, creditor_id, debtor_id, patterns)
    await privacy.record_erasure(conn, creditor_id, debtor_id, stand_in, event.requested_at)
    answer(uow, NotifierPersonalDataHandled, event, service=SERVICE, rows=rows, now=now)
    return rows


async def export(uow: UnitOfWork, event: PersonalDataExportRequested, now: Any) -> None:
    held = await repository.personal_data_of(uow.conn, event.creditor_id, event.debtor_id)
    data = {
        "contact_snapshot": held.snapshots[0] if held.snapshots else None,
        "deliveries": [
            {
                "id": str(d["id"]),
                "reminder_id": str(d["reminder_id"]),
                "claim_ids": [str(c) for c in d["claim_ids"]],
                "step": d["step"],
                "kind": d["kind"],
                "channel": d["channel"],
                "status": d["status"],
                "recipient": d["recipient"],
                "cc": list(d["cc"] or ()),
                "sent_at": d["sent_at"].isoformat() if d["sent_at"] else None,
                "delivered_at": d["delivered_at"].isoformat() if d["delivered_at"] else None,
                "last_error": d["last_error"],
                "cost_minor": d["cost_minor"],
                "cost_currency": d["cost_currency"],
                "content": d["content"],
            }
            for d in held.deliveries
        ],
        "suppressed_addresses": held.suppressions,
        "call_tasks": [
            {
                "id": str(t["id"]),
                "claim_ids": [str(c) for c in t["claim_ids"]],
                "step": t["step"],
                "status": t["status"],
                "attempts": t["attempts"],
                "outcome": t["outcome"],
                "created_at": t["created_at"].isoformat(),
            }
            for t in held.call_tasks
        ],
    }
    answer(
        uow,
        NotifierPersonalDataHandled,
        event,
        service=SERVICE,
        rows=len(held.deliveries) + len(held.call_tasks) + len(held.suppressions) + bool(held.snapshots),
        now=now,
        data=data,
    )


def build_routes(clock: Clock) -> dict[type[Any], Handler]:
    return request_routes(clock, erase, export)
