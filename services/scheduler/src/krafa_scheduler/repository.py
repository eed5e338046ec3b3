"""SQL of the scheduler."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

# Columns a use case may write through `update_timeline`; anything else is a bug.
WRITABLE = frozenset(
    {
        "amount_minor", "payments", "due_date", "final_due_date", "time_zone", "debtor_country", "customer_class",
        "debtor_kind", "policy_creditor", "policy_key", "policy_version", "step", "next_action_at", "status",
        "stop_reason", "last_fired_at", "watch_round", "fees", "free_reminders", "shift_s", "pause_reason",
        "instalments", "currency", "notice_step", "notice_due_at", "notice_sent_at", "notice_pay_by",
    }
)  # fmt: skip
# jsonb parameters take Python values: the pool's codec encodes them (krafa_kit.db).
JSON_COLUMNS = frozenset({"payments", "fees", "instalments"})


async def insert_timeline(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    columns = list(values)
    placeholders = ", ".join(f"${i + 1}" + ("::jsonb" if c in JSON_COLUMNS else "") for i, c in enumerate(columns))
    inserted = await conn.fetchval(
        f"INSERT INTO timelines ({', '.join(columns)}) VALUES ({placeholders})"
        " ON CONFLICT (claim_id) DO NOTHING RETURNING true",
        *[values[c] for c in columns],
    )
    return bool(inserted)


async def get_timeline(conn: asyncpg.Connection, claim_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM timelines WHERE claim_id = $1" + (" FOR UPDATE" if lock else ""), claim_id
    )
    return row


async def debtor_timelines(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM timelines WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY claim_id FOR UPDATE",
            creditor_id,
            debtor_id,
        )
    )


async def update_timeline(conn: asyncpg.Connection, claim_id: UUID, fields: dict[str, Any]) -> None:
    unknown = set(fields) - WRITABLE
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    columns = list(fields)
    sets = ", ".join(f"{c} = ${i + 2}" + ("::jsonb" if c in JSON_COLUMNS else "") for i, c in enumerate(columns))
    await conn.execute(
        f"UPDATE timelines SET {sets}, updated_at = now() WHERE claim_id = $1",
        claim_id,
        *[fields[c] for c in columns],
    )


async def claim_due(
    conn: asyncpg.Connection,
    now: datetime,
    limit: int,
    creditor_id: UUID | None = None,
    excluding: Sequence[UUID] = (),
) -> list[asyncpg.Record]:
    """Due timelines: of every creditor on the service's clock but the sandboxes `excluding` (each
    on a clock of its own), or, with `creditor_id`, of that one sandbox, whose now `now` is."""
    # SKIP LOCKED lets several scheduler replicas sweep side by side without firing a step twice.
    # The exclusion is a plain filter on the due index's scan, and absent when there is no sandbox:
    # the hot query of the sweep stays the one it was (no join with the clocks' table per batch).
    if creditor_id is None:
        return list(
            await conn.fetch(
                "SELECT * FROM timelines WHERE next_action_at <= $1 AND status IN ('active', 'paused', 'plan')"
                + (" AND creditor_id <> ALL($3::uuid[])" if excluding else "")
                + " ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
                *((list(excluding),) if excluding else ()),
            )
        )
    return list(
        await conn.fetch(
            "SELECT * FROM timelines WHERE creditor_id = $3 AND next_action_at <= $1"
            " AND status IN ('active', 'paused', 'plan') ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
            creditor_id,
        )
    )


async def claim_due_of_debtors(
    conn: asyncpg.Connection, now: datetime, pairs: list[tuple[UUID, UUID]], taken: list[UUID]
) -> list[asyncpg.Record]:
    """The other due claims of the batch's debtors, so one reminder can list them all; rows
    another replica holds are left to it."""
    if not pairs:
        return []
    return list(
        await conn.fetch(
            "SELECT t.* FROM timelines t JOIN unnest($2::uuid[], $3::uuid[]) AS p(c, d)"
            " ON t.creditor_id = p.c AND t.debtor_id = p.d"
            " WHERE t.next_action_at <= $1 AND t.status = 'active' AND NOT (t.claim_id = ANY($4::uuid[]))"
            " FOR UPDATE OF t SKIP LOCKED",
            now,
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            taken,
        )
    )


async def save_sweep(conn: asyncpg.Connection, updates: list[dict[str, Any]]) -> None:
    """Write back every swept row in one statement."""
    if not updates:
        return
    await conn.execute(
        "UPDATE timelines t SET step = u.step, next_action_at = u.next_at, status = u.status,"
        " last_fired_at = u.last_fired_at, watch_round = u.watch_round, fees = u.fees::jsonb,"
        " free_reminders = u.free_reminders, shift_s = u.shift_s, pause_reason = u.pause_reason,"
        " instalments = u.instalments::jsonb, interest_booked_minor = u.interest_booked,"
        " notice_step = u.notice_step, notice_due_at = u.notice_due_at, notice_sent_at = u.notice_sent_at,"
        " notice_pay_by = u.notice_pay_by, updated_at = now()"
        " FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::int[],"
        " $7::text[], $8::int[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::int[],"
        " $14::timestamptz[], $15::timestamptz[], $16::date[])"
        " AS u(claim_id, step, next_at, status, last_fired_at, watch_round, fees, free_reminders, shift_s,"
        " pause_reason, instalments, interest_booked, notice_step, notice_due_at, notice_sent_at, notice_pay_by)"
        " WHERE t.claim_id = u.claim_id",
        [u["claim_id"] for u in updates],
        [u["step"] for u in updates],
        [u["next_action_at"] for u in updates],
        [u["status"] for u in updates],
        [u["last_fired_at"] for u in updates],
        [u["watch_round"] for u in updates],
        [json.dumps(u["fees"]) for u in updates],
        [u["free_reminders"] for u in updates],
        [u["shift_s"] for u in updates],
        [u["pause_reason"] for u in updates],
        [None if u["instalments"] is None else json.dumps(u["instalments"]) for u in updates],
        [u["interest_booked_minor"] for u in updates],
        [u["notice_step"] for u in updates],
        [u["notice_due_at"] for u in updates],
        [u["notice_sent_at"] for u in updates],
        [u["notice_pay_by"] for u in updates],
    )


async def contacts_of(
    conn: asyncpg.Connection, pairs: Iterable[tuple[UUID, UUID]], since: datetime
) -> list[asyncpg.Record]:
    pairs = list(pairs)
    if not pairs:
        return []
    return list(
        await conn.fetch(
            "SELECT c.creditor_id, c.debtor_id, c.channel, c.at, c.reminder_id FROM contacts c"
            " JOIN unnest($1::uuid[], $2::uuid[]) AS p(c, d) ON c.creditor_id = p.c AND c.debtor_id = p.d"
            " WHERE c.at > $3",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            since,
        )
    )


async def add_contacts(conn: asyncpg.Connection, rows: Sequence[tuple[UUID, UUID, str, datetime, UUID]]) -> None:
    if rows:
        # One statement for the batch (executemany is a round of binds per row).
        columns = list(zip(*rows, strict=True))
        await conn.execute(
            "INSERT INTO contacts (creditor_id, debtor_id, channel, at, reminder_id)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[])"
            " ON CONFLICT (reminder_id) DO NOTHING",
            *[list(c) for c in columns],
        )


OutboxRecord = tuple[UUID, str, str, bytes, str, bytes]
OUTBOX_COLUMNS = ["event_id", "event_type", "topic", "key", "headers", "value"]


async def add_outbox(conn: asyncpg.Connection, records: list[OutboxRecord], channel: str) -> None:
    """The sweep's events, already encoded, into the transactional outbox (the table and the
    NOTIFY that krafa_kit's Outbox uses): COPY for a batch, a plain INSERT for a few."""
    if not records:
        return
    if len(records) > 50:
        await conn.copy_records_to_table("outbox", records=records, columns=OUTBOX_COLUMNS)
    else:
        await conn.executemany(
            "INSERT INTO outbox (event_id, event_type, topic, key, headers, value) VALUES ($1, $2, $3, $4, $5, $6)",
            records,
        )
    # Delivered at commit: it wakes the relay without a polling delay.
    await conn.execute("SELECT pg_notify($1, '')", channel)


async def next_due_at(conn: asyncpg.Connection) -> datetime | None:
    """The next instant, on the service's clock, at which a timeline falls due: a sandbox's steps
    fall due its offset earlier. (The first minimum is over every row at its own time, which for a
    sandbox's row is later than its due instant, so taking the least of all is still right.)"""
    value: datetime | None = await conn.fetchval(
        "SELECT least("
        " (SELECT min(next_action_at) FROM timelines WHERE status IN ('active', 'paused', 'plan')),"
        " (SELECT min((SELECT min(t.next_action_at) FROM timelines t WHERE t.creditor_id = c.creditor_id"
        "   AND t.status IN ('active', 'paused', 'plan')) - make_interval(secs => c.offset_s))"
        "  FROM creditor_clocks c))"
    )
    return value


# -- sandbox creditors' clocks (docs/adr/0015) -------------------------------------------------


async def next_due_of(conn: asyncpg.Connection, creditor_id: UUID) -> datetime | None:
    """The creditor's next due instant, on its own clock."""
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_action_at) FROM timelines WHERE creditor_id = $1 AND status IN ('active', 'paused', 'plan')",
        creditor_id,
    )
    return value


async def learn_clock(conn: asyncpg.Connection, creditor_id: UUID, offset_s: int, at: datetime) -> None:
    """Keep the largest offset seen: a late or repeated advance never moves a clock back."""
    await conn.execute(
        "INSERT INTO creditor_clocks (creditor_id, offset_s, advanced_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (creditor_id) DO UPDATE SET offset_s = excluded.offset_s, advanced_at = excluded.advanced_at"
        " WHERE creditor_clocks.offset_s < excluded.offset_s",
        creditor_id,
        offset_s,
        at,
    )


async def clock_offsets(conn: asyncpg.Connection) -> dict[UUID, timedelta]:
    rows = await conn.fetch("SELECT creditor_id, offset_s FROM creditor_clocks ORDER BY creditor_id")
    return {r["creditor_id"]: timedelta(seconds=r["offset_s"]) for r in rows}


async def clock_offset(conn: asyncpg.Connection, creditor_id: UUID) -> timedelta:
    seconds = await conn.fetchval("SELECT offset_s FROM creditor_clocks WHERE creditor_id = $1", creditor_id)
    return timedelta(seconds=seconds or 0)


# -- policies --------------------------------------------------------------------------------


async def insert_policy(
    conn: asyncpg.Connection, creditor_id: UUID, department: str, customer_class: str, document: dict[str, Any]
) -> int:
    """A new version of the creditor's policy `key`; earlier versions stay for their timelines."""
    key = document["key"]
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"policy:{creditor_id}:{key}")
    version: int = await conn.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM policies WHERE creditor_id = $1 AND key = $2", creditor_id, key
    )
    document = {**document, "version": version}
    await conn.execute(
        "INSERT INTO policies (creditor_id, key, version, department, customer_class, document)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        creditor_id,
        key,
        version,
        department,
        customer_class,
        document,
    )
    return version


async def scoped_policy(
    conn: asyncpg.Connection, creditor_id: UUID, department: str | None, customer_class: str | None
) -> asyncpg.Record | None:
    """The creditor's newest policy for the most specific matching scope."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT key, version, department, customer_class, document FROM policies"
        " WHERE creditor_id = $1 AND department IN ('', $2) AND customer_class IN ('', $3)"
        " ORDER BY (department <> '') DESC, (customer_class <> '') DESC, created_at DESC, version DESC LIMIT 1",
        creditor_id,
        department or "",
        customer_class or "",
    )
    return row


async def scoped_policy_ref(
    conn: asyncpg.Connection, creditor_id: UUID, department: str | None, customer_class: str | None
) -> tuple[str, int] | None:
    """`scoped_policy`'s key and version, without its document."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT key, version FROM policies"
        " WHERE creditor_id = $1 AND department IN ('', $2) AND customer_class IN ('', $3)"
        " ORDER BY (department <> '') DESC, (customer_class <> '') DESC, created_at DESC, version DESC LIMIT 1",
        creditor_id,
        department or "",
        customer_class or "",
    )
    return None if row is None else (row["key"], row["version"])


async def policies(conn: asyncpg.Connection, creditor_id: UUID) -> list[asyncpg.Record]:
    """Every version of the creditor's policies, each scope's newest first; `current` marks the one
    `scoped_policy` picks for that exact scope."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT key, version, department, customer_class, document, created_at,"
        " row_number() OVER (PARTITION BY department, customer_class ORDER BY created_at DESC, version DESC) = 1"
        " AS current FROM policies WHERE creditor_id = $1"
        " ORDER BY department, customer_class, created_at DESC, version DESC",
        creditor_id,
    )
    return rows


async def stored_policy(conn: asyncpg.Connection, creditor_id: UUID, key: str, version: int) -> asyncpg.Record | None:
    """One version of one of the creditor's policies, with its scope."""
    return await conn.fetchrow(
        "SELECT key, version, department, customer_class, document, created_at, NULL::boolean AS current"
        " FROM policies WHERE creditor_id = $1 AND key = $2 AND version = $3",
        creditor_id,
        key,
        version,
    )


async def policy_version(conn: asyncpg.Connection, creditor_id: UUID, key: str, version: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT document::text FROM policies WHERE creditor_id = $1 AND key = $2 AND version = $3",
        creditor_id,
        key,
        version,
    )
    return value


async def timeline(conn: asyncpg.Connection, claim_id: UUID) -> asyncpg.Record | None:
    """The claim's timeline row as stored."""
    return await conn.fetchrow("SELECT * FROM timelines WHERE claim_id = $1", claim_id)
