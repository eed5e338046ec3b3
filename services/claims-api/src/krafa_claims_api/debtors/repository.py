"""SQL for debtors and contact points. Every query is scoped to a creditor."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

import asyncpg
import pydantic_core
from krafa_kit import privacy

from krafa_claims_api.debtors.domain import (
    MASTER_FIELDS,
    Consent,
    ContactPoint,
    CreditFigures,
    Debtor,
    legacy_email,
    primaries,
)
from krafa_claims_api.debtors.domain import ContactKind as Kind

DEBTOR_COLUMNS = "id, customer_no, created_at, erased_at, " + ", ".join(MASTER_FIELDS)
CONTACT_COLUMNS = (
    "id, debtor_id, kind, value, origin, state, verified, consent_source, consent_at, terms_version,"
    " state_reason, listed_at, created_at, updated_at, verified_at"
)
# Claims in these states owe nothing any more; everything else counts towards credit status.
SETTLED_STATUSES = ["paid", "cancelled", "written_off"]


def _consent(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


async def contact_consent(conn: asyncpg.Connection, creditor_id: UUID) -> dict[str, Any] | None:
    """The creditor's current contact consent as recorded: source, terms_version, terms_date, recorded_at."""
    return _consent(await conn.fetchval("SELECT contact_consent FROM creditors WHERE id = $1", creditor_id))


async def standing_consent(conn: asyncpg.Connection, creditor_id: UUID) -> Consent | None:
    """The creditor's contact consent as the evidence a contact point carries."""
    recorded = await contact_consent(conn, creditor_id)
    if recorded is None:
        return None
    at = datetime.combine(date.fromisoformat(recorded["terms_date"]), time(), UTC)
    return Consent(recorded["source"], at, recorded["terms_version"])


async def set_contact_consent(conn: asyncpg.Connection, creditor_id: UUID, consent: dict[str, Any]) -> None:
    await conn.execute("UPDATE creditors SET contact_consent = $2 WHERE id = $1", creditor_id, consent)


def _debtor(row: asyncpg.Record, contact_points: list[ContactPoint]) -> Debtor:
    master = {name: row[name] for name in MASTER_FIELDS}
    if isinstance(master["address"], str):  # written as a JSON string before 0003
        master["address"] = json.loads(master["address"])
    return Debtor(row["id"], row["customer_no"], master, contact_points, row["created_at"], row["erased_at"])


def _contact(row: asyncpg.Record) -> ContactPoint:
    return ContactPoint(**{k: v for k, v in dict(row).items() if k != "debtor_id"})


async def _attach_contacts(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Debtor]:
    ids = [r["id"] for r in rows]
    by_debtor: dict[UUID, list[ContactPoint]] = defaultdict(list)
    if ids:
        for cp in await conn.fetch(
            f"SELECT {CONTACT_COLUMNS} FROM contact_points WHERE debtor_id = ANY($1::uuid[]) ORDER BY created_at, id",
            ids,
        ):
            by_debtor[cp["debtor_id"]].append(_contact(cp))
    return [_debtor(r, by_debtor[r["id"]]) for r in rows]


async def load_for_update(conn: asyncpg.Connection, creditor_id: UUID, customer_nos: list[str]) -> list[Debtor]:
    """The creditor's debtors with these customer numbers, locked for the rest of the transaction
    (in customer-number order, so two concurrent uploads cannot deadlock)."""
    rows = await conn.fetch(
        f"SELECT {DEBTOR_COLUMNS} FROM debtors WHERE creditor_id = $1 AND customer_no = ANY($2::text[])"
        " ORDER BY customer_no FOR UPDATE",
        creditor_id,
        customer_nos,
    )
    return await _attach_contacts(conn, list(rows))


async def get(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, *, lock: bool = False) -> Debtor | None:
    row = await conn.fetchrow(
        f"SELECT {DEBTOR_COLUMNS} FROM debtors WHERE id = $1 AND creditor_id = $2" + (" FOR UPDATE" if lock else ""),
        debtor_id,
        creditor_id,
    )
    if row is None:
        return None
    [debtor] = await _attach_contacts(conn, [row])
    return debtor


async def page(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    *,
    customer_class: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Debtor]:
    where = ["creditor_id = $1"]
    args: list[Any] = [creditor_id]
    if customer_class is not None:
        args.append(customer_class)
        where.append(f"customer_class = ${len(args)}")
    if after is not None:
        args.extend(after)
        where.append(f"(created_at, id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {DEBTOR_COLUMNS} FROM debtors WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ${len(args)}",
        *args,
    )
    return await _attach_contacts(conn, list(rows))


def _master_values(debtor: Debtor, address_text: bool = False) -> list[Any]:
    # The connection's jsonb codec serialises the address dict itself, or (`address_text`) it goes
    # as JSON text, cast to jsonb by the statement.
    values = [debtor.master[name] for name in MASTER_FIELDS]
    if address_text and values[_ADDRESS] is not None:
        values[_ADDRESS] = pydantic_core.to_json(values[_ADDRESS]).decode()
    usable = primaries(debtor)
    email, email_state = legacy_email(debtor, usable)
    phone = usable.get(Kind.PHONE)
    return [*values, email, email_state, phone.value if phone else None]


_MASTER_TYPES = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "text",
    "text",
    "bigint",
    "text",
    "integer",
    "integer",
    "bigint",
    "bigint",
]


_ADDRESS = MASTER_FIELDS.index("address")


# More new debtors than this are inserted without ON CONFLICT first (see insert_new).
PLAIN_INSERT_FROM = 50


async def insert_new(conn: asyncpg.Connection, creditor_id: UUID, debtors: list[Debtor]) -> set[str]:
    """Insert new debtors; returns the customer numbers inserted (a concurrent request may have
    inserted some of them first: those are left out and must be merged instead)."""
    if not debtors:
        return set()
    columns = [*MASTER_FIELDS, "email", "email_state", "phone"]
    # The addresses go as JSON text (pydantic-core's encoder: a third of the codec's json.dumps for
    # 10,000 of them) and become jsonb in the statement, which stores the same value either way.
    types = [*_MASTER_TYPES, "text", "text", "text"]
    types[_ADDRESS] = "text"
    values = [[d.id, d.customer_no, d.created_at, *_master_values(d, address_text=True)] for d in debtors]
    placeholders = ", ".join(f"${i + 5}::{t}[]" for i, t in enumerate(types))
    names = ", ".join(columns)
    selected = ", ".join(f"u.{name}::jsonb" if name == "address" else f"u.{name}" for name in columns)
    insert = (
        f"INSERT INTO debtors (creditor_id, id, customer_no, created_at, {names}, updated_at)"
        f" SELECT $1, u.id, u.customer_no, u.created_at, {selected}, u.created_at"
        f" FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], {placeholders})"
        f" AS u(id, customer_no, created_at, {names})"
    )
    args = [creditor_id, *[list(col) for col in zip(*values, strict=True)]]
    if len(debtors) > PLAIN_INSERT_FROM:
        # ON CONFLICT makes each row a speculative insertion (a probe of the unique index before
        # it, one more write and WAL record after it): a third of the cost of a bulk's debtors,
        # paid for a race that almost never happens. So a bulk's go plain, in a savepoint; when
        # another transaction did insert one of the same customers first, the INSERT fails on the
        # unique index, and the rows go again with ON CONFLICT.
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            await conn.execute(insert, *args)
        except asyncpg.UniqueViolationError:
            await savepoint.rollback()
        except BaseException:
            await savepoint.rollback()
            raise
        else:
            await savepoint.commit()
            return {d.customer_no for d in debtors}
    rows = await conn.fetch(insert + " ON CONFLICT (creditor_id, customer_no) DO NOTHING RETURNING customer_no", *args)
    return {r["customer_no"] for r in rows}


def debtor_updates(creditor_id: UUID, debtors: list[Debtor], now: datetime) -> list[tuple[Any, ...]]:
    """Master data and the legacy email/phone projection of existing debtors that changed, as they
    are now: the rows `write_updates` writes."""
    return [(d.id, creditor_id, now, *_master_values(d)) for d in debtors]


async def write_updates(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    columns = [*MASTER_FIELDS, "email", "email_state", "phone"]
    sets = ", ".join(f"{name} = ${i + 4}" for i, name in enumerate(columns))
    await conn.executemany(f"UPDATE debtors SET {sets}, updated_at = $3 WHERE id = $1 AND creditor_id = $2", rows)


@dataclass(frozen=True, slots=True)
class ContactWrites:
    inserts: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]


def contact_writes(creditor_id: UUID, debtors: list[Debtor]) -> ContactWrites:
    """The new and changed contact points of these debtors as rows for `write_contacts`, taken as
    they are now; their new/dirty flags are cleared."""
    inserts = []
    updates = []
    for d in debtors:
        for cp in d.contact_points:
            if cp.new:
                inserts.append(
                    (
                        cp.id,
                        creditor_id,
                        d.id,
                        cp.kind,
                        cp.value,
                        cp.origin,
                        cp.state,
                        cp.verified,
                        cp.consent_source,
                        cp.consent_at,
                        cp.terms_version,
                        cp.state_reason,
                        cp.listed_at,
                        cp.created_at,
                        cp.updated_at,
                        cp.verified_at,
                    )
                )
            elif cp.dirty:
                updates.append(
                    (
                        cp.id,
                        creditor_id,
                        cp.origin,
                        cp.state,
                        cp.verified,
                        cp.consent_source,
                        cp.consent_at,
                        cp.terms_version,
                        cp.state_reason,
                        cp.listed_at,
                        cp.updated_at,
                        cp.verified_at,
                    )
                )
            cp.new = cp.dirty = False
    return ContactWrites(inserts, updates)


# Contact points of a bulk (two per debtor of a 10,000-claim request) go by COPY: PostgreSQL
# inserts them in batches without a query per row, and no array is built per column on our side.
# A few rows go by INSERT, which takes one round trip fewer.
COPY_CONTACTS_FROM = 50
_CONTACT_INSERT_COLUMNS = [
    "id",
    "creditor_id",
    "debtor_id",
    "kind",
    "value",
    "origin",
    "state",
    "verified",
    "consent_source",
    "consent_at",
    "terms_version",
    "state_reason",
    "listed_at",
    "created_at",
    "updated_at",
    "verified_at",
]


async def write_contacts(conn: asyncpg.Connection, writes: ContactWrites) -> None:
    if len(writes.inserts) > COPY_CONTACTS_FROM:
        await conn.copy_records_to_table("contact_points", records=writes.inserts, columns=_CONTACT_INSERT_COLUMNS)
    elif writes.inserts:
        await conn.execute(
            "INSERT INTO contact_points (id, creditor_id, debtor_id, kind, value, origin, state, verified,"
            " consent_source, consent_at, terms_version, state_reason, listed_at, created_at, updated_at,"
            " verified_at)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],"
            " $7::text[], $8::boolean[], $9::text[], $10::timestamptz[], $11::text[], $12::text[],"
            " $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[])",
            *[list(col) for col in zip(*writes.inserts, strict=True)],
        )
    if writes.updates:
        await conn.executemany(
            "UPDATE contact_points SET origin = $3, state = $4, verified = $5, consent_source = $6,"
            " consent_at = $7, terms_version = $8, state_reason = $9, listed_at = $10, updated_at = $11,"
            " verified_at = $12 WHERE id = $1 AND creditor_id = $2",
            writes.updates,
        )


async def add_history(conn: asyncpg.Connection, rows: list[tuple[UUID, UUID, str, datetime, dict[str, Any]]]) -> None:
    if rows:
        await conn.executemany(
            "INSERT INTO debtor_history (debtor_id, event_id, source, occurred_at, details)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )


async def credit_figures(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, today: date) -> CreditFigures:
    rows = await conn.fetch(
        "SELECT currency, sum(amount_minor + fees_minor - paid_minor) AS open_minor,"
        " sum(amount_minor + fees_minor - paid_minor) FILTER (WHERE due_date < $3) AS overdue_minor,"
        " min(due_date) FILTER (WHERE due_date < $3) AS oldest_due"
        " FROM claims WHERE creditor_id = $1 AND debtor_id = $2 AND status <> ALL($4::text[])"
        " AND status <> 'disputed' AND amount_minor + fees_minor - paid_minor > 0 GROUP BY currency",
        creditor_id,
        debtor_id,
        today,
        SETTLED_STATUSES,
    )
    return _figures(list(rows))


async def credit_figures_of(
    conn: asyncpg.Connection, creditor_id: UUID, days: dict[UUID, date]
) -> dict[UUID, CreditFigures]:
    """`credit_figures` of many debtors in one query, each on its own "today" (`days`)."""
    rows = await conn.fetch(
        "SELECT d.debtor_id, c.currency, sum(c.amount_minor + c.fees_minor - c.paid_minor) AS open_minor,"
        " sum(c.amount_minor + c.fees_minor - c.paid_minor) FILTER (WHERE c.due_date < d.today) AS overdue_minor,"
        " min(c.due_date) FILTER (WHERE c.due_date < d.today) AS oldest_due"
        " FROM unnest($2::uuid[], $3::date[]) AS d(debtor_id, today)"
        " JOIN claims c ON c.creditor_id = $1 AND c.debtor_id = d.debtor_id"
        " WHERE c.status <> ALL($4::text[]) AND c.status <> 'disputed'"
        " AND c.amount_minor + c.fees_minor - c.paid_minor > 0 GROUP BY d.debtor_id, c.currency",
        creditor_id,
        list(days),
        list(days.values()),
        SETTLED_STATUSES,
    )
    by_debtor: dict[UUID, list[asyncpg.Record]] = {debtor_id: [] for debtor_id in days}
    for row in rows:
        by_debtor[row["debtor_id"]].append(row)
    return {debtor_id: _figures(found) for debtor_id, found in by_debtor.items()}


def _figures(rows: list[asyncpg.Record]) -> CreditFigures:
    oldest = [r["oldest_due"] for r in rows if r["oldest_due"] is not None]
    return CreditFigures(
        overdue_minor={r["currency"]: int(r["overdue_minor"]) for r in rows if r["overdue_minor"]},
        open_minor={r["currency"]: int(r["open_minor"]) for r in rows},
        oldest_due=min(oldest) if oldest else None,
    )


async def claims_of(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM claims WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY created_at, id",
            creditor_id,
            debtor_id,
        )
    )


async def claim_history(conn: asyncpg.Connection, claim_ids: list[UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT claim_id, event_type, occurred_at, details FROM claim_history"
            " WHERE claim_id = ANY($1::uuid[]) ORDER BY occurred_at, id",
            claim_ids,
        )
    )


async def debtor_history(conn: asyncpg.Connection, debtor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT event_id, source, occurred_at, details FROM debtor_history WHERE debtor_id = $1"
            " ORDER BY occurred_at, id",
            debtor_id,
        )
    )


async def erase(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, pseudonym: str, now: datetime) -> None:
    await conn.execute("DELETE FROM contact_points WHERE debtor_id = $1 AND creditor_id = $2", debtor_id, creditor_id)
    await conn.execute(
        "UPDATE debtors SET name = $3, national_id = NULL, address = NULL, email = NULL, phone = NULL,"
        " email_state = 'active', fallback_channel = 'letter', erased_at = $4, updated_at = $4"
        " WHERE id = $1 AND creditor_id = $2",
        debtor_id,
        creditor_id,
        pseudonym,
        now,
    )


# --- personal-data requests (krafa_claims_api.personal_data) -----------------------------------


async def scrub_free_text(
    conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, patterns: list[str], replacement: str
) -> int:
    """Remove the debtor's personal data from the free text that may quote it: the history of its
    claims, the creditor's webhook payloads and stored idempotent answers, its arrangement notes;
    and the payer id its bank claims carried."""
    # An Icelandic bank claim's payer id: the claim exists at the bank; here it has served.
    result = await conn.execute(
        "UPDATE claims SET payment = payment - 'payor_id' WHERE creditor_id = $1 AND debtor_id = $2"
        " AND payment ? 'payor_id'",
        creditor_id,
        debtor_id,
    )
    changed = int(result.split()[-1])
    if not patterns:
        return changed
    likes = [f"%{_like(p)}%" for p in patterns]
    for row in await conn.fetch(
        "SELECT h.id, h.details FROM claim_history h JOIN claims c ON c.id = h.claim_id"
        " WHERE c.creditor_id = $1 AND c.debtor_id = $2 AND h.details::text ILIKE ANY($3::text[])",
        creditor_id,
        debtor_id,
        likes,
    ):
        await conn.execute(
            "UPDATE claim_history SET details = $2 WHERE id = $1",
            row["id"],
            privacy.scrub_json(row["details"], patterns, replacement),
        )
        changed += 1
    for row in await conn.fetch(
        "SELECT id, payload FROM webhook_deliveries WHERE creditor_id = $1"
        " AND (payload->'data'->>'debtor_id' = $2::uuid::text OR payload::text ILIKE ANY($3::text[]))",
        creditor_id,
        debtor_id,
        likes,
    ):
        await conn.execute(
            "UPDATE webhook_deliveries SET payload = $2 WHERE id = $1",
            row["id"],
            privacy.scrub_json(row["payload"], patterns, replacement),
        )
        changed += 1
    for row in await conn.fetch(
        "SELECT key, response_body FROM idempotency_keys WHERE creditor_id = $1"
        " AND response_body::text ILIKE ANY($2::text[])",
        creditor_id,
        likes,
    ):
        await conn.execute(
            "UPDATE idempotency_keys SET response_body = $3 WHERE creditor_id = $1 AND key = $2",
            creditor_id,
            row["key"],
            privacy.scrub_json(row["response_body"], patterns, replacement),
        )
        changed += 1
    for row in await conn.fetch(
        "SELECT id, note, decision_note FROM arrangement_requests WHERE creditor_id = $1 AND debtor_id = $2",
        creditor_id,
        debtor_id,
    ):
        await conn.execute(
            "UPDATE arrangement_requests SET note = $2, decision_note = $3 WHERE id = $1",
            row["id"],
            privacy.scrub(row["note"], patterns, replacement),
            privacy.scrub(row["decision_note"], patterns, replacement),
        )
        changed += 1
    return changed


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def own_extras(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> dict[str, Any]:
    """What else claims-api keeps about the debtor: webhooks sent about them, their arrangement
    requests (JSON-ready)."""
    hooks = await conn.fetch(
        "SELECT event_type, payload, status, created_at, delivered_at FROM webhook_deliveries"
        " WHERE creditor_id = $1 AND payload->'data'->>'debtor_id' = $2::uuid::text ORDER BY created_at, id",
        creditor_id,
        debtor_id,
    )
    arrangements = await conn.fetch(
        "SELECT id, claim_id, kind, due_date, instalments, note, reasons, status, created_at, decided_at, decision_note"
        " FROM arrangement_requests WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY created_at, id",
        creditor_id,
        debtor_id,
    )

    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        return value

    return {
        "webhooks": [{k: plain(v) for k, v in dict(h).items()} for h in hooks],
        "arrangement_requests": [{k: plain(v) for k, v in dict(a).items()} for a in arrangements],
    }


async def add_privacy_request(
    conn: asyncpg.Connection,
    request_id: UUID,
    creditor_id: UUID,
    debtor_id: UUID,
    kind: str,
    services: list[str],
    own_part: dict[str, Any] | None,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO privacy_requests (id, creditor_id, debtor_id, kind, services, own_part, requested_at,"
        " completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz,"
        " CASE WHEN cardinality($5::text[]) = 0 THEN $7::timestamptz END)",
        request_id,
        creditor_id,
        debtor_id,
        kind,
        services,
        own_part,
        at,
    )


async def privacy_request(
    conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, request_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM privacy_requests WHERE id = $1 AND creditor_id = $2 AND debtor_id = $3"
        + (" FOR UPDATE" if lock else ""),
        request_id,
        creditor_id,
        debtor_id,
    )


async def latest_privacy_request(
    conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, kind: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM privacy_requests WHERE creditor_id = $1 AND debtor_id = $2 AND kind = $3"
        " ORDER BY requested_at DESC, id LIMIT 1",
        creditor_id,
        debtor_id,
        kind,
    )


async def privacy_answers(conn: asyncpg.Connection, request_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT service, rows, data, handled_at FROM privacy_answers WHERE request_id = $1 ORDER BY service",
            request_id,
        )
    )


async def add_privacy_answer(
    conn: asyncpg.Connection, request_id: UUID, service: str, rows: int, data: dict[str, Any] | None, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO privacy_answers (request_id, service, rows, data, handled_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (request_id, service) DO NOTHING",
        request_id,
        service,
        rows,
        data,
        at,
    )


async def complete_if_answered(conn: asyncpg.Connection, request_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE privacy_requests r SET completed_at = $2 WHERE id = $1 AND completed_at IS NULL"
        " AND (SELECT count(*) FROM privacy_answers a WHERE a.request_id = r.id) >= cardinality(r.services)",
        request_id,
        at,
    )


async def drop_export_documents(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> None:
    await conn.execute(
        "UPDATE privacy_answers a SET data = NULL FROM privacy_requests r WHERE r.id = a.request_id"
        " AND r.creditor_id = $1 AND r.debtor_id = $2 AND r.kind = 'export' AND a.data IS NOT NULL",
        creditor_id,
        debtor_id,
    )
    await conn.execute(
        "UPDATE privacy_requests SET own_part = NULL WHERE creditor_id = $1 AND debtor_id = $2 AND kind = 'export'",
        creditor_id,
        debtor_id,
    )


async def erased_since(conn: asyncpg.Connection, debtor_id: UUID, since: datetime) -> bool:
    return bool(await conn.fetchval("SELECT erased_at >= $2 FROM debtors WHERE id = $1", debtor_id, since))


async def id_by_customer_no(conn: asyncpg.Connection, creditor_id: UUID, customer_no: str) -> UUID | None:
    value: UUID | None = await conn.fetchval(
        "SELECT id FROM debtors WHERE creditor_id = $1 AND customer_no = $2", creditor_id, customer_no
    )
    return value


# -- contact uploads (krafa_claims_api.debtors.uploads) --------------------------------------------

# A queued or running upload whose row has not moved for this long lost its process (a restart):
# it reads as stale.
STALE_AFTER_S = 600


def _stale() -> str:
    return f"updated_at < now() - interval '{STALE_AFTER_S} seconds'"


async def create_upload(
    conn: asyncpg.Connection, creditor_id: UUID, key: str, fmt: str, size: int, now: datetime
) -> UUID:
    job_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO contact_uploads (id, creditor_id, content_hash, format, size_bytes, status, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, now())",
        job_id,
        creditor_id,
        key,
        fmt,
        size,
        now,
    )
    return job_id


async def get_upload(
    conn: asyncpg.Connection, creditor_id: UUID, job_id: UUID, *, rejects_after: int, rejects_limit: int
) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    job = await conn.fetchrow(
        f"SELECT *, status IN ('queued', 'running') AND {_stale()} AS stale FROM contact_uploads"
        " WHERE id = $1 AND creditor_id = $2",
        job_id,
        creditor_id,
    )
    if job is None:
        return None
    rejects = await conn.fetch(
        "SELECT line, customer_no, field, detail FROM contact_upload_rejects WHERE upload_id = $1 AND line > $2"
        " ORDER BY line LIMIT $3",
        job_id,
        rejects_after,
        rejects_limit + 1,
    )
    return job, list(rejects)


async def set_upload(conn: asyncpg.Connection, job_id: UUID, assignments: str, *args: Any) -> None:
    """`assignments` is this module's callers' own SQL text (never input), its values in `args`."""
    await conn.execute(f"UPDATE contact_uploads SET {assignments}, updated_at = now() WHERE id = $1", job_id, *args)


async def add_upload_rejects(
    conn: asyncpg.Connection, job_id: UUID, rejects: list[tuple[int, str | None, str | None, str]]
) -> None:
    """Rejected rows (line, customer number, field, detail); a line reported before is kept."""
    await conn.executemany(
        "INSERT INTO contact_upload_rejects (upload_id, line, customer_no, field, detail)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [(job_id, *reject) for reject in rejects],
    )


async def count_upload_chunk(
    conn: asyncpg.Connection,
    job_id: UUID,
    *,
    rows: int,
    accepted: int,
    rejected: int,
    created: int,
    updated: int,
    unchanged: int,
    without_consent: int,
) -> None:
    await conn.execute(
        "UPDATE contact_uploads SET rows_total = rows_total + $2, rows_accepted = rows_accepted + $3,"
        " rows_rejected = rows_rejected + $4, debtors_created = debtors_created + $5,"
        " debtors_updated = debtors_updated + $6, rows_unchanged = rows_unchanged + $7,"
        " rows_without_consent = rows_without_consent + $8, updated_at = now() WHERE id = $1",
        job_id,
        rows,
        accepted,
        rejected,
        created,
        updated,
        unchanged,
        without_consent,
    )
