"""SQL of the notifier."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from krafa_kit import privacy, tracing
from krafa_kit.wakeup import notify_due

DISPATCH_COLUMNS = (
    "id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone, template, fee_minor, channels,"
    " fallback_for, attempts, due_at, interest_minor, pay_by, cc, bcc, notice_kind, stage, jurisdiction, fee_ids,"
    " interest_rate_pct, traceparent"
)


async def upsert_claim(conn: asyncpg.Connection, values: tuple[Any, ...]) -> None:
    await conn.execute(
        "INSERT INTO claims_view (claim_id, creditor_id, debtor_id, invoice_no, description, amount_minor,"
        " fees_minor, currency, due_date, reference, creditor, debtor, jurisdiction, payment)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (claim_id) DO NOTHING",
        *values,
    )


async def record_balance(
    conn: asyncpg.Connection, claim_id: uuid.UUID, entries: int, ledger: dict[str, Any], fee_ids: list[uuid.UUID]
) -> None:
    """The claim's ledger as claims-api last announced it; an older announcement changes nothing."""
    await conn.execute(
        "UPDATE claims_view SET ledger = $3, ledger_entries = $2, booked_fee_ids = $4, updated_at = now()"
        " WHERE claim_id = $1 AND ledger_entries <= $2",
        claim_id,
        entries,
        ledger,
        fee_ids,
    )


async def set_claim_status(
    conn: asyncpg.Connection, claim_id: uuid.UUID, status: str, *, only_from: tuple[str, ...] | None = None
) -> None:
    """A dunning state change, on the stops lane (docs/adr/0008). `only_from` guards the
    reopening ones (a release never reopens a paid claim); a claim without a row is open. A
    stop's moment is the database's clock, the one the dispatcher's fence runs on; its
    transaction is kept too, as the fence sees a stop only once that commits (`stopped_xid`)."""
    stopped, xid = ("NULL", "NULL") if status == "open" else ("clock_timestamp()", "pg_current_xact_id()")
    if only_from is not None and "open" not in only_from:
        await conn.execute(
            f"UPDATE claim_states SET status = $2, stopped_at = coalesce({stopped}, stopped_at),"
            f" stopped_xid = coalesce({xid}, stopped_xid), updated_at = now()"
            " WHERE claim_id = $1 AND status = ANY($3::text[])",
            claim_id,
            status,
            list(only_from),
        )
        return
    await conn.execute(
        f"INSERT INTO claim_states AS s (claim_id, status, stopped_at, stopped_xid) VALUES ($1, $2, {stopped}, {xid})"
        " ON CONFLICT (claim_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now(),"
        " stopped_at = coalesce(EXCLUDED.stopped_at, s.stopped_at),"
        " stopped_xid = coalesce(EXCLUDED.stopped_xid, s.stopped_xid)"
        " WHERE $3::text[] IS NULL OR s.status = ANY($3::text[])",
        claim_id,
        status,
        list(only_from) if only_from is not None else None,
    )


async def replanned(conn: asyncpg.Connection, claim_id: uuid.UUID, at: datetime) -> None:
    """The claim's timeline was re-planned at `at`: reminders due before it are stale."""
    await conn.execute(
        "INSERT INTO claim_states AS s (claim_id, replanned_at) VALUES ($1, $2)"
        " ON CONFLICT (claim_id) DO UPDATE SET replanned_at = GREATEST(coalesce(s.replanned_at, $2), $2),"
        " updated_at = now()",
        claim_id,
        at,
    )


async def amend_claim(conn: asyncpg.Connection, claim_id: uuid.UUID, *, amount_minor: int, due_date: Any) -> None:
    await conn.execute(
        "UPDATE claims_view SET amount_minor = $2, due_date = $3, updated_at = now() WHERE claim_id = $1",
        claim_id,
        amount_minor,
        due_date,
    )


async def hold_for_payment(conn: asyncpg.Connection, claim_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    """A payment for the claim is known: its sends wait until claims-api has booked it. A hold
    whose booking was seen first (the lanes read different topics) stays released."""
    await conn.execute(
        "INSERT INTO payment_holds (claim_id, payment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", claim_id, payment_id
    )


async def payments_booked(
    conn: asyncpg.Connection, claim_id: uuid.UUID, payment_ids: list[uuid.UUID], ledger_entries: int
) -> None:
    """claims-api booked these payments and the claim is still open: their holds end once the
    claim's ledger view (the main consumer's) holds that booking, `ledger_entries` entries."""
    await conn.execute(
        "INSERT INTO payment_holds (claim_id, payment_id, booked_at, booked_entries)"
        " SELECT $1, p, clock_timestamp(), $3 FROM unnest($2::uuid[]) AS p"
        " ON CONFLICT (claim_id, payment_id) DO UPDATE"
        " SET booked_at = coalesce(payment_holds.booked_at, EXCLUDED.booked_at),"
        " booked_entries = greatest(payment_holds.booked_entries, EXCLUDED.booked_entries)",
        claim_id,
        payment_ids,
        ledger_entries,
    )


async def upsert_debtor(
    conn: asyncpg.Connection,
    creditor_id: uuid.UUID,
    debtor_id: uuid.UUID,
    snapshot: dict[str, Any],
    phone: str | None,
    updated_at: datetime,
) -> None:
    """The debtor's current contact snapshot: a newer one replaces it, an older one is ignored."""
    await conn.execute(
        "INSERT INTO debtors (creditor_id, debtor_id, snapshot, phone, updated_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET snapshot = EXCLUDED.snapshot,"
        " phone = EXCLUDED.phone, updated_at = EXCLUDED.updated_at WHERE debtors.updated_at <= EXCLUDED.updated_at",
        creditor_id,
        debtor_id,
        snapshot,
        phone,
        updated_at,
    )


async def refresh_claim_copies(conn: asyncpg.Connection, creditor_id: uuid.UUID, debtor_id: uuid.UUID) -> None:
    """The debtor's claims carry the debtor's current snapshot (after a DebtorUpdated)."""
    await conn.execute(
        "UPDATE claims_view c SET debtor = d.snapshot, updated_at = now() FROM debtors d"
        " WHERE d.creditor_id = $1 AND d.debtor_id = $2 AND c.creditor_id = $1 AND c.debtor_id = $2"
        " AND c.debtor IS DISTINCT FROM d.snapshot",
        creditor_id,
        debtor_id,
    )


async def debtor(conn: asyncpg.Connection, creditor_id: uuid.UUID, debtor_id: uuid.UUID) -> dict[str, Any] | None:
    snapshot = await conn.fetchval(
        "SELECT snapshot FROM debtors WHERE creditor_id = $1 AND debtor_id = $2", creditor_id, debtor_id
    )
    return dict(snapshot) if snapshot is not None else None


async def record_creditor_sender(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, sender: dict[str, Any], updated_at: datetime
) -> None:
    """The creditor's sender identity as of `updated_at`; an older update arriving late changes nothing."""
    await conn.execute(
        "INSERT INTO creditor_senders (creditor_id, sender, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (creditor_id) DO UPDATE SET sender = EXCLUDED.sender, updated_at = EXCLUDED.updated_at"
        " WHERE creditor_senders.updated_at <= EXCLUDED.updated_at",
        creditor_id,
        sender,
        updated_at,
    )


async def template(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, keys: list[str], channel: str, language: str
) -> asyncpg.Record | None:
    """The creditor's most specific template among `keys` (most specific first)."""
    return await conn.fetchrow(
        "SELECT key, subject, body FROM templates WHERE creditor_id = $1 AND key = ANY($2::text[])"
        " AND channel = $3 AND language = $4 ORDER BY array_position($2::text[], key) LIMIT 1",
        creditor_id,
        keys,
        channel,
        language,
    )


async def templates(conn: asyncpg.Connection, creditor_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every template of the creditor, by key, channel and language."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT key, channel, language, subject, body, updated_at FROM templates WHERE creditor_id = $1"
        " ORDER BY key, channel, language",
        creditor_id,
    )
    return rows


async def stored_template(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, key: str, channel: str, language: str
) -> asyncpg.Record | None:
    """The creditor's template for exactly this key, channel and language."""
    return await conn.fetchrow(
        "SELECT key, channel, language, subject, body, updated_at FROM templates"
        " WHERE creditor_id = $1 AND key = $2 AND channel = $3 AND language = $4",
        creditor_id,
        key,
        channel,
        language,
    )


async def put_template(
    conn: asyncpg.Connection,
    creditor_id: uuid.UUID,
    key: str,
    channel: str,
    language: str,
    subject: str | None,
    body: str,
) -> bool:
    """True when the template is new."""
    return bool(
        await conn.fetchval(
            "INSERT INTO templates (creditor_id, key, channel, language, subject, body) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (creditor_id, key, channel, language) DO UPDATE SET subject = EXCLUDED.subject,"
            " body = EXCLUDED.body, updated_at = now() RETURNING (xmax = 0)",
            creditor_id,
            key,
            channel,
            language,
            subject,
            body,
        )
    )


# What the dispatchers listen for (Runtime.wake_on_due): a delivery that may be tried now.
DELIVERIES = "deliveries"


async def insert_delivery(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """A delivery per (reminder, kind): a second ReminderDue or a second bounce adds nothing. A new
    one wakes the dispatchers at commit (in the same statement: no round trip of its own)."""
    inserted = await conn.fetchval(
        "WITH added AS (INSERT INTO deliveries (id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone,"
        " template, fee_minor, channels, fallback_for, due_at, currency, interest_minor, pay_by, cc, bcc,"
        " notice_kind, stage, jurisdiction, fee_ids, interest_rate_pct, traceparent)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
        " $19, $20, $21, $22, $23, $24)"
        " ON CONFLICT (reminder_id, kind) DO NOTHING RETURNING 1)"
        f" SELECT bool_or(true) FROM (SELECT {notify_due(DELIVERIES)} FROM added) AS woken",
        values["id"],
        values["reminder_id"],
        values["kind"],
        values["creditor_id"],
        values["debtor_id"],
        values["claim_ids"],
        values["step"],
        values["tone"],
        values["template"],
        values["fee_minor"],
        values["channels"],
        values.get("fallback_for"),
        values["due_at"],
        values.get("currency"),
        values.get("interest_minor", 0),
        values.get("pay_by"),
        list(values.get("cc", ())),
        list(values.get("bcc", ())),
        values.get("notice_kind"),
        values.get("stage"),
        values.get("jurisdiction"),
        list(values.get("fee_ids", ())),
        values.get("interest_rate_pct"),
        # The trace of the event that asked for it (ReminderDue, a bounce): the dispatcher continues it.
        values.get("traceparent") or (context.traceparent if (context := tracing.current()) else None),
    )
    return bool(inserted)


async def deliveries_due(conn: asyncpg.Connection) -> None:
    """Wake the dispatchers at commit: deliveries were made pending again by someone else than a
    dispatcher (a soft bounce's re-send)."""
    await conn.execute(f"SELECT {notify_due(DELIVERIES)}")


async def next_soft_retry_at(conn: asyncpg.Connection) -> datetime | None:
    """When the earliest scheduled soft-bounce re-send falls due (the service's clock)."""
    value: datetime | None = await conn.fetchval("SELECT min(due_at) FROM soft_retries WHERE status = 'scheduled'")
    return value


async def next_attempt_in_s(conn: asyncpg.Connection) -> float | None:
    """Wall seconds until the earliest pending delivery may be tried (negative: due now); None
    when nothing is pending."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM deliveries WHERE status = 'pending'"
    )
    return None if value is None else float(value)


async def claim_batch(conn: asyncpg.Connection, worker: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""
            UPDATE deliveries d SET status = 'sending', claimed_by = $1, attempts = attempts + 1
            FROM (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
            WHERE d.id = due.id
            RETURNING {", ".join("d." + c.strip() for c in DISPATCH_COLUMNS.split(","))}
            """,
            worker,
            limit,
        )
    )


# A payment hold claims-api never answers (it refused the payment: a dead letter for the operator)
# stops holding the claim's messages after this long.
PAYMENT_HOLD_LAPSE = "interval '15 minutes'"
# Held: not booked by claims-api yet, or booked but not yet in the claim's ledger view (`v`).
_HELD = (
    f"h.held_at > clock_timestamp() - {PAYMENT_HOLD_LAPSE}"
    " AND (h.booked_at IS NULL OR coalesce(v.ledger_entries, 0) < h.booked_entries)"
)
CLAIM_STATE = (
    "coalesce(s.status, 'open') AS status, s.replanned_at,"
    f" EXISTS (SELECT 1 FROM payment_holds h WHERE h.claim_id = v.claim_id AND {_HELD}) AS payment_pending"
)


async def any_sandbox(conn: asyncpg.Connection, claim_ids: list[uuid.UUID]) -> bool:
    """Whether any of the claims is a sandbox creditor's (its snapshot says so)."""
    return bool(
        await conn.fetchval(
            "SELECT bool_or(coalesce((creditor->>'sandbox')::boolean, false)) FROM claims_view"
            " WHERE claim_id = ANY($1::uuid[])",
            claim_ids,
        )
    )


async def claims_for(conn: asyncpg.Connection, claim_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The claims' content with their dunning state as the stops lane last recorded it."""
    return list(
        await conn.fetch(
            f"SELECT v.*, {CLAIM_STATE} FROM claims_view v LEFT JOIN claim_states s USING (claim_id)"
            " WHERE v.claim_id = ANY($1::uuid[]) ORDER BY v.due_date",
            claim_ids,
        )
    )


async def delivery_context(
    conn: asyncpg.Connection, claim_ids: list[uuid.UUID], creditor_id: uuid.UUID, debtor_id: uuid.UUID
) -> tuple[list[asyncpg.Record], dict[str, Any] | None, dict[str, Any] | None]:
    """What a send reads first, in one round trip: the claims as `claims_for` returns them, the
    creditor's latest sender identity and the debtor's latest snapshot (None when not recorded, or
    when none of the claims is known yet: the send then waits for them anyway)."""
    # One claim (nearly every send) as `= $1`: with an array parameter PostgreSQL plans this
    # statement anew on every execution (a generic plan's guess of ten elements never beats a
    # custom plan's one), ~130 µs of its CPU each time; `= $1` runs its cached generic plan.
    one = len(claim_ids) == 1
    rows = list(
        await conn.fetch(
            f"SELECT v.*, {CLAIM_STATE},"
            " (SELECT sender FROM creditor_senders WHERE creditor_id = $2) AS sender_identity_,"
            " (SELECT snapshot FROM debtors WHERE creditor_id = $2 AND debtor_id = $3) AS debtor_snapshot_"
            " FROM claims_view v LEFT JOIN claim_states s USING (claim_id)"
            f" WHERE v.claim_id = {'$1' if one else 'ANY($1::uuid[])'} ORDER BY v.due_date",
            claim_ids[0] if one else claim_ids,
            creditor_id,
            debtor_id,
        )
    )
    if not rows:
        return rows, None, None
    sender, snapshot = rows[0]["sender_identity_"], rows[0]["debtor_snapshot_"]
    return (
        rows,
        dict(sender) if sender is not None else None,
        dict(snapshot) if snapshot is not None else None,
    )


@dataclass(frozen=True)
class SendOptions:
    """Which addresses a creditor suppresses and its own templates, per channel (`send_options`)."""

    suppressed: frozenset[str]  # of the addresses asked about, as they were given
    templates: dict[str, asyncpg.Record]  # channel -> the most specific template (key, subject, body)


async def send_options(
    conn: asyncpg.Connection,
    creditor_id: uuid.UUID,
    addresses: list[str],
    keys: list[str],
    channels: list[str],
    language: str,
) -> SendOptions:
    """In one round trip, what choosing a send's channel and its words needs: which of
    `addresses` the creditor suppresses (as `suppressed` decides it, the erased ones by their
    hash) and, per channel of `channels`, its most specific template among `keys` (most specific
    first) in `language`, as `template` finds it."""
    rows = await conn.fetch(
        "SELECT a.given AS address, NULL AS channel, NULL AS key, NULL AS subject, NULL AS body"
        " FROM unnest($2::text[], $6::text[]) AS a(given, hashed) WHERE EXISTS (SELECT 1 FROM suppressions"
        "  WHERE creditor_id = $1 AND address IN (lower(a.given), a.hashed))"
        " UNION ALL (SELECT DISTINCT ON (channel) NULL, channel, key, subject, body FROM templates"
        "  WHERE creditor_id = $1 AND key = ANY($3::text[]) AND channel = ANY($4::text[]) AND language = $5"
        "  ORDER BY channel, array_position($3::text[], key))",
        creditor_id,
        addresses,
        keys,
        channels,
        language,
        [privacy.address_hash(a) for a in addresses],
    )
    return SendOptions(
        suppressed=frozenset(r["address"] for r in rows if r["address"] is not None),
        templates={r["channel"]: r for r in rows if r["channel"] is not None},
    )


async def begin_send(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    claim_ids: list[uuid.UUID],
    due_at: datetime,
    creditor_id: uuid.UUID,
    addresses: list[str],
) -> bool:
    """The fence (docs/adr/0008): in one statement, mark the send begun only if none of its
    claims is stopped, re-planned after the reminder fell due or waiting for a payment to be
    booked, and none of its addresses suppressed — as the stops lane has committed them. A stop
    committed after this statement finds the send in flight; one committed before it stops it."""
    return bool(
        await conn.fetchval(
            "UPDATE deliveries SET dispatch_started_at = clock_timestamp() WHERE id = $1"
            " AND NOT EXISTS (SELECT 1 FROM claim_states s WHERE s.claim_id = ANY($2::uuid[])"
            "  AND (s.status <> 'open' OR s.replanned_at > $3))"
            " AND NOT EXISTS (SELECT 1 FROM payment_holds h LEFT JOIN claims_view v USING (claim_id)"
            f"  WHERE h.claim_id = ANY($2::uuid[]) AND {_HELD})"
            " AND NOT EXISTS (SELECT 1 FROM suppressions WHERE creditor_id = $4 AND address = ANY($5::text[]))"
            " RETURNING true",
            delivery_id,
            claim_ids,
            due_at,
            creditor_id,
            [a.lower() for a in addresses],
        )
    )


async def suppressed(conn: asyncpg.Connection, creditor_id: uuid.UUID, address: str) -> bool:
    # An erased debtor's suppressed address is kept as its hash (krafa_kit.privacy.address_hash).
    return bool(
        await conn.fetchval(
            "SELECT true FROM suppressions WHERE creditor_id = $1 AND address IN (lower($2), $3)",
            creditor_id,
            address,
            privacy.address_hash(address),
        )
    )


async def suppress(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, address: str, reason: str, bounced_at: datetime | None = None
) -> None:
    """`bounced_at` on the services' clock: a verification by the debtor after it lifts the suppression."""
    await conn.execute(
        "INSERT INTO suppressions (creditor_id, address, reason, bounced_at) VALUES ($1, lower($2), $3, $4)"
        " ON CONFLICT (creditor_id, address) DO UPDATE SET bounced_at = GREATEST(suppressions.bounced_at,"
        " excluded.bounced_at), reason = excluded.reason",
        creditor_id,
        address,
        reason,
        bounced_at,
    )


async def lift_suppression(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, address: str, verified_at: datetime
) -> bool:
    """The debtor proved the address reaches them after it bounced: it may be written to again. A
    bounce later than the verification keeps it suppressed."""
    lifted = await conn.execute(
        "DELETE FROM suppressions WHERE creditor_id = $1 AND address = lower($2)"
        " AND COALESCE(bounced_at, created_at) < $3",
        creditor_id,
        address,
        verified_at,
    )
    return str(lifted) != "DELETE 0"


async def release_orphans(conn: asyncpg.Connection, alive: uuid.UUID) -> int:
    """Deliveries left 'sending' by a dispatcher that died go back to pending. A dispatcher holds
    an advisory lock on its id while alive, so a lock we can take belongs to a dead one — except
    the caller's own (`alive`): its lock is gone only while its connection was lost (PostgreSQL
    restarted), and its sends are still in flight."""
    released = 0
    for row in await conn.fetch(
        "SELECT DISTINCT claimed_by FROM deliveries WHERE status = 'sending' AND claimed_by <> $1", alive
    ):
        worker = row["claimed_by"]
        if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1::text))", str(worker)):
            result = await conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = now()"
                " WHERE status = 'sending' AND claimed_by = $1",
                worker,
            )
            released += int(result.split()[-1])
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1::text))", str(worker))
    return released


# -- call tasks -------------------------------------------------------------------------------

CALL_COLUMNS = (
    "t.id, t.reminder_id, t.creditor_id, t.debtor_id, t.claim_ids, t.step, t.status, t.attempts,"
    " t.window_opens_at, t.window_closes_at, t.claimed_by, t.claimed_at, t.outcome, d.snapshot AS debtor"
)


async def insert_call_task(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO call_tasks (id, reminder_id, creditor_id, debtor_id, claim_ids, step, window_opens_at,"
            " window_closes_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (reminder_id) DO NOTHING"
            " RETURNING true",
            values["id"],
            values["reminder_id"],
            values["creditor_id"],
            values["debtor_id"],
            values["claim_ids"],
            values["step"],
            values["opens_at"],
            values["closes_at"],
        )
    )


async def lapsed_call_tasks(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Open tasks whose window closed before anyone called, and tasks an agent claimed but never
    answered for (30 minutes): both go back to the queue in their next window."""
    return list(
        await conn.fetch(
            f"SELECT {CALL_COLUMNS} FROM call_tasks t LEFT JOIN debtors d USING (creditor_id, debtor_id)"
            " WHERE (t.status = 'open' AND t.window_closes_at <= $1)"
            " OR (t.status = 'claimed' AND t.claimed_at < $1 - interval '30 minutes')"
            " FOR UPDATE OF t SKIP LOCKED",
            now,
        )
    )


async def reschedule_call_task(
    conn: asyncpg.Connection, task_id: uuid.UUID, opens_at: datetime, closes_at: datetime, *, attempted: bool
) -> None:
    await conn.execute(
        "UPDATE call_tasks SET status = 'open', window_opens_at = $2, window_closes_at = $3, claimed_by = NULL,"
        " claimed_at = NULL, attempts = attempts + $4::int, updated_at = now() WHERE id = $1",
        task_id,
        opens_at,
        closes_at,
        1 if attempted else 0,
    )


async def due_call_tasks(conn: asyncpg.Connection, now: datetime, limit: int, *, lock: bool) -> list[asyncpg.Record]:
    """Open tasks in their calling window now, oldest window first, whose claims are still open.
    With `lock`, rows another agent is claiming are skipped (SKIP LOCKED), never waited for."""
    return list(
        await conn.fetch(
            f"SELECT {CALL_COLUMNS} FROM call_tasks t LEFT JOIN debtors d USING (creditor_id, debtor_id)"
            " WHERE t.status = 'open' AND t.window_opens_at <= $1 AND t.window_closes_at > $1"
            " AND EXISTS (SELECT 1 FROM claims_view c LEFT JOIN claim_states s USING (claim_id)"
            "  WHERE c.claim_id = ANY(t.claim_ids) AND coalesce(s.status, 'open') = 'open')"
            " ORDER BY t.window_opens_at, t.created_at LIMIT $2" + (" FOR UPDATE OF t SKIP LOCKED" if lock else ""),
            now,
            limit,
        )
    )


async def claim_call_task(conn: asyncpg.Connection, task_id: uuid.UUID, agent: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE call_tasks SET status = 'claimed', claimed_by = $2, claimed_at = $3, updated_at = now() WHERE id = $1",
        task_id,
        agent,
        now,
    )


async def call_task(conn: asyncpg.Connection, task_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CALL_COLUMNS} FROM call_tasks t LEFT JOIN debtors d USING (creditor_id, debtor_id)"
        " WHERE t.id = $1" + (" FOR UPDATE OF t" if lock else ""),
        task_id,
    )


async def finish_call_task(conn: asyncpg.Connection, task_id: uuid.UUID, outcome: str) -> None:
    await conn.execute(
        "UPDATE call_tasks SET status = 'done', outcome = $2, attempts = attempts + 1, claimed_by = NULL,"
        " updated_at = now() WHERE id = $1",
        task_id,
        outcome,
    )


async def open_claims_by_phone(conn: asyncpg.Connection, phone: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT c.claim_id, c.creditor_id, c.debtor_id, c.invoice_no, c.amount_minor, c.fees_minor, c.currency,"
            " c.due_date, c.reference, coalesce(s.status, 'open') AS status, c.creditor->>'name' AS creditor_name,"
            " d.snapshot->>'name' AS debtor_name"
            " FROM debtors d JOIN claims_view c USING (creditor_id, debtor_id)"
            " LEFT JOIN claim_states s USING (claim_id)"
            " WHERE d.phone = $1 AND coalesce(s.status, 'open') NOT IN ('paid', 'cancelled', 'written_off')"
            " ORDER BY c.due_date",
            phone,
        )
    )


async def costs(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Messages handed to a provider, with what it charges, per channel and currency."""
    return list(
        await conn.fetch(
            "SELECT channel, cost_currency, count(*) AS messages, coalesce(sum(segments), 0)::bigint AS segments,"
            " coalesce(sum(cost_minor), 0)::bigint AS cost_minor FROM deliveries"
            " WHERE creditor_id = $1 AND sent_at >= $2 AND sent_at < $3 AND channel IS NOT NULL"
            " AND status IN ('sent', 'delivered', 'failed') AND provider IS NOT NULL"
            " GROUP BY channel, cost_currency ORDER BY channel, cost_currency",
            creditor_id,
            since,
            until,
        )
    )


# --- personal data (krafa_notifier.personal_data) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldPersonalData:
    snapshots: list[dict[str, Any]]  # the current contact snapshot first, then the claims' copies
    deliveries: list[asyncpg.Record]
    suppressions: list[str]
    call_tasks: list[asyncpg.Record]
    payor_ids: list[str]  # the payer's id of Icelandic bank claims (claims_view.payment)


async def personal_data_of(conn: asyncpg.Connection, creditor_id: uuid.UUID, debtor_id: uuid.UUID) -> HeldPersonalData:
    """Everything the notifier keeps about one debtor of one creditor, locked for an erasure."""
    snapshots = [
        dict(r["snapshot"])
        for r in await conn.fetch(
            "SELECT snapshot FROM debtors WHERE creditor_id = $1 AND debtor_id = $2 FOR UPDATE", creditor_id, debtor_id
        )
    ]
    snapshots += [
        dict(r["debtor"])
        for r in await conn.fetch(
            "SELECT debtor FROM claims_view WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY claim_id FOR UPDATE",
            creditor_id,
            debtor_id,
        )
    ]
    deliveries = list(
        await conn.fetch(
            "SELECT id, reminder_id, claim_ids, step, kind, channel, status, recipient, cc, sent_at, delivered_at,"
            " last_error, cost_minor, cost_currency, content FROM deliveries WHERE creditor_id = $1 AND debtor_id = $2"
            " ORDER BY created_at, id FOR UPDATE",
            creditor_id,
            debtor_id,
        )
    )
    addresses = {
        value.lower() for snapshot in snapshots for value in (snapshot.get("email"), snapshot.get("phone")) if value
    } | {d["recipient"].lower() for d in deliveries if d["recipient"]}
    suppressions = [
        r["address"]
        for r in await conn.fetch(
            "SELECT address FROM suppressions WHERE creditor_id = $1 AND address = ANY($2::text[]) ORDER BY address",
            creditor_id,
            sorted(addresses),
        )
    ]
    call_tasks = list(
        await conn.fetch(
            "SELECT id, claim_ids, step, status, attempts, outcome, created_at FROM call_tasks"
            " WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY created_at, id",
            creditor_id,
            debtor_id,
        )
    )
    payor_ids = [
        r["payor_id"]
        for r in await conn.fetch(
            "SELECT DISTINCT payment->>'payor_id' AS payor_id FROM claims_view WHERE creditor_id = $1"
            " AND debtor_id = $2 AND payment->>'payor_id' IS NOT NULL",
            creditor_id,
            debtor_id,
        )
    ]
    return HeldPersonalData(snapshots, deliveries, suppressions, call_tasks, payor_ids)


async def drop_payor_ids(conn: asyncpg.Connection, creditor_id: uuid.UUID, debtor_id: uuid.UUID) -> int:
    """A bank claim's payer id leaves the claims' copies (the message only needs the claim's key)."""
    result = await conn.execute(
        "UPDATE claims_view SET payment = payment - 'payor_id' WHERE creditor_id = $1 AND debtor_id = $2"
        " AND payment ? 'payor_id'",
        creditor_id,
        debtor_id,
    )
    return int(result.split()[-1])


async def replace_debtor_snapshots(
    conn: asyncpg.Connection, creditor_id: uuid.UUID, debtor_id: uuid.UUID, snapshot: dict[str, Any]
) -> int:
    """Put `snapshot` in place of the debtor's current one and of every claim's copy."""
    current = await conn.execute(
        "UPDATE debtors SET snapshot = $3, phone = NULL WHERE creditor_id = $1 AND debtor_id = $2",
        creditor_id,
        debtor_id,
        snapshot,
    )
    copies = await conn.execute(
        "UPDATE claims_view SET debtor = $3, updated_at = now() WHERE creditor_id = $1 AND debtor_id = $2",
        creditor_id,
        debtor_id,
        snapshot,
    )
    return int(current.split()[-1]) + int(copies.split()[-1])


async def pseudonymise_delivery(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    recipient: str | None,
    last_error: str | None,
    content: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "UPDATE deliveries SET recipient = $2, last_error = $3, content = $4 WHERE id = $1",
        delivery_id,
        recipient,
        last_error,
        content,
    )


async def hash_suppressions(conn: asyncpg.Connection, creditor_id: uuid.UUID, addresses: list[str]) -> int:
    """The creditor's suppressions of these addresses, kept as hashes (still matched by `suppressed`)."""
    changed = 0
    for address in addresses:
        result = await conn.execute(
            "UPDATE suppressions SET address = $3 WHERE creditor_id = $1 AND address = $2"
            " AND NOT EXISTS (SELECT 1 FROM suppressions WHERE creditor_id = $1 AND address = $3)",
            creditor_id,
            address,
            privacy.address_hash(address),
        )
        deleted = await conn.execute(
            "DELETE FROM suppressions WHERE creditor_id = $1 AND address = $2", creditor_id, address
        )
        changed += int(result.split()[-1]) + int(deleted.split()[-1])
    return changed


# -- sending (krafa_notifier.service: fallbacks, receipts and the dispatcher) ------------------------


async def delivery_terms(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    """What a fallback copies from the delivery it replaces: the notice, its charges, its tone."""
    return await conn.fetchrow(
        "SELECT template, fee_minor, currency, interest_minor, pay_by, tone, notice_kind, stage, jurisdiction,"
        " fee_ids, interest_rate_pct FROM deliveries WHERE id = $1",
        delivery_id,
    )


async def sent_through(conn: asyncpg.Connection, provider: str, provider_ref: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM deliveries WHERE provider = $1 AND provider_ref = $2", provider, provider_ref
        )
    )


async def lock_sent(conn: asyncpg.Connection, provider: str, provider_ref: str) -> asyncpg.Record | None:
    """The delivery a provider's receipt names, locked, with its channel and status."""
    return await conn.fetchrow(
        f"SELECT {DISPATCH_COLUMNS}, channel, status FROM deliveries"
        " WHERE provider = $1 AND provider_ref = $2 FOR UPDATE",
        provider,
        provider_ref,
    )


async def keep_early_receipt(
    conn: asyncpg.Connection, provider: str, provider_ref: str, outcome: str, reason: str | None
) -> None:
    """A receipt that overtook our record of the send, kept until the send is recorded."""
    await conn.execute(
        "INSERT INTO early_receipts (provider, provider_ref, outcome, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        provider,
        provider_ref,
        outcome,
        reason,
    )


async def take_early_receipt(conn: asyncpg.Connection, provider: str, provider_ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "DELETE FROM early_receipts WHERE provider = $1 AND provider_ref = $2 RETURNING outcome, reason",
        provider,
        provider_ref,
    )


async def set_delivered(conn: asyncpg.Connection, delivery_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE deliveries SET status = 'delivered', delivered_at = $2 WHERE id = $1", delivery_id, at)


async def set_failed(conn: asyncpg.Connection, delivery_id: uuid.UUID, channel: str | None, reason: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', channel = $2, last_error = $3, claimed_by = NULL WHERE id = $1",
        delivery_id,
        channel,
        reason,
    )


async def hold_worker_lock(conn: asyncpg.Connection, worker_id: uuid.UUID) -> None:
    """The dispatcher's session lock: while its connection lives, its claimed rows are not orphans."""
    await conn.execute("SELECT pg_advisory_lock(hashtext($1::text))", str(worker_id))


async def already_sent(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these deliveries, those already recorded as sent; every one of them locked until the
    transaction ends (in id order, so two recorders never deadlock), so a send recorded by
    another dispatcher at the same time is seen here, not recorded twice."""
    rows = await conn.fetch(
        "SELECT id, status FROM deliveries WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", delivery_ids
    )
    return {r["id"] for r in rows if r["status"] in ("sent", "delivered")}


async def record_sends(conn: asyncpg.Connection, sends: list[tuple[Any, ...]]) -> None:
    """Sends the providers accepted: (id, channel, recipient, message_id, return_path, sent_at,
    provider, provider_ref, status, cost_minor, cost_currency, segments, content as JSON text,
    stated). `stated` is what the message stated (per claim the ledger version and balance, and
    the total), so anyone can hold it against the ledger."""
    await conn.executemany(
        "UPDATE deliveries SET status = $9, channel = $2, recipient = $3, message_id = $4,"
        " return_path = $5, sent_at = $6, claimed_by = NULL, provider = $7, provider_ref = $8,"
        " cost_minor = $10, cost_currency = $11, segments = $12, content = $13::text::jsonb,"
        " stated = coalesce($14::jsonb, stated),"
        " delivered_at = CASE WHEN $9::text = 'delivered' THEN $6::timestamptz END WHERE id = $1",
        sends,
    )


async def retry_later(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, reason: str, delay_s: float, *, count_attempt: bool
) -> None:
    """Back to pending after `delay_s` of wall time; unless `count_attempt`, the claim of this
    round does not count as an attempt."""
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', last_error = $2, claimed_by = NULL,"
        " attempts = CASE WHEN $4 THEN attempts ELSE attempts - 1 END,"
        " next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
        delivery_id,
        reason,
        delay_s,
        count_attempt,
    )


async def finish(conn: asyncpg.Connection, delivery_id: uuid.UUID, status: str, last_error: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = $2, last_error = $3, claimed_by = NULL WHERE id = $1",
        delivery_id,
        status,
        last_error,
    )


async def sent_content(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    """A sent delivery's owner and what it said (its content is kept with the send)."""
    return await conn.fetchrow(
        "SELECT creditor_id, debtor_id, content FROM deliveries WHERE id = $1 AND status IN ('sent', 'delivered')",
        delivery_id,
    )


async def delivery_state(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    """A delivery's state for operators: channel, status, attempts, provider and costs."""
    return await conn.fetchrow(
        "SELECT id, reminder_id, kind, channel, status, step, attempts, last_error, sent_at, fallback_for,"
        " provider, provider_ref, cost_minor, cost_currency, segments, delivered_at"
        " FROM deliveries WHERE id = $1",
        delivery_id,
    )
