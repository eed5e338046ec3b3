"""sweep_1m_s: 1,000,000 open timelines in the scheduler's schema, 100,000 of them due; seconds
for the scheduler's own sweep (`service.sweep_due`, what its sweeper runs: batches of 1,000 with
FOR UPDATE SKIP LOCKED, the next batch claimed and planned while the previous one commits) to fire
every due step: DueDatePassed + ReminderDue + the late interest booked (FeeCharged late_interest)
per claim into the outbox, the timeline moved to its next step, one commit per batch. PostgreSQL
is durable (fsync on), as in production.

The due claims' dates are derived from the default Icelandic policy's first step (so a policy
that moves its first step cannot leave the bench with nothing due): that step fell due a day
before the sweep, with real amounts, so firing it plans, prices its fees and books the late
interest accrued since the eindagi (final due date) — every part of firing a step. The run fails
if the sweep fires fewer steps (ReminderDue in the outbox) than it planned as due.

Component: the bare SKIP LOCKED sweep of perf-limits.md on the same rows (select a batch of due
ids, move their indexed next_action_at, commit), without events.

Extra: `sweep_1m_3_replicas_s`, the same due rows swept by three sweepers side by side on the
same database (three pools, as three scheduler replicas would), each step fired once."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from krafa_kit.clock import ManualClock
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedPostgres
from krafa_kit.migrations import migrate_async
from krafa_scheduler import domain, policy, service
from krafa_scheduler.app import MIGRATIONS, SCHEMA

from bench.common import Figure, Options, say, temp_dir

KEY = "sweep_1m_s"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ZONE = "Atlantic/Reykjavik"
GRACE = timedelta(days=10)  # gjalddagi (due date) to eindagi (final due date)
BATCH = 1000
COLUMNS = ["claim_id", "creditor_id", "debtor_id", "currency", "amount_minor", "due_date", "final_due_date",
           "jurisdiction", "time_zone", "step", "next_action_at", "status"]  # fmt: skip


def _final_due_date() -> date:
    """The latest eindagi whose first step of the default IS policy (the one these rows get)
    fell due at least a day before NOW: derived from the policy itself, never a fixed age."""
    pol = policy.default_policy("IS")
    pack = policy.jurisdiction(pol.jurisdiction)
    final = NOW.astimezone(domain.zone(ZONE)).date()
    for _ in range(3650):
        claim = domain.Claim(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "ISK", 50_000, final - GRACE, final, "IS", ZONE)
        if domain.planned(domain.Context(claim, pol, pack), 0) <= NOW - timedelta(days=1):
            return final
        final -= timedelta(days=1)
    raise RuntimeError(f"{pol.ref}'s first step never falls due before {NOW}")


async def _load(db: Database, total: int, due: int) -> None:
    creditor = uuid.uuid4()
    past, future = NOW - timedelta(hours=1), NOW + timedelta(days=30)
    final = _final_due_date()
    rows = [
        (uuid.uuid4(), creditor, uuid.uuid4(), "ISK", 5_000 + i * 7_919 % 95_000, final - GRACE,
         final, "IS", ZONE, 0, past if i < due else future, "active")
        for i in range(total)
    ]  # fmt: skip
    async with db.connection() as conn:
        for start in range(0, total, 100_000):
            await conn.copy_records_to_table("timelines", records=rows[start : start + 100_000], columns=COLUMNS)
        await conn.execute("VACUUM ANALYZE timelines")


async def _reset(db: Database, due: int) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE timelines SET step = 0, status = 'active', next_action_at = $1, last_fired_at = NULL,"
            " watch_round = 0, fees = '[]', free_reminders = 0, shift_s = 0, interest_booked_minor = 0"
            " WHERE claim_id IN (SELECT claim_id FROM timelines WHERE next_action_at > $2 OR status <> 'active'"
            " ORDER BY next_action_at NULLS FIRST LIMIT $3)",
            NOW - timedelta(hours=1), NOW + timedelta(days=29), due,
        )  # fmt: skip
        await conn.execute("TRUNCATE outbox, contacts")
        await conn.execute("VACUUM ANALYZE timelines")
        assert await conn.fetchval("SELECT count(*) FROM timelines WHERE next_action_at <= $1", NOW) == due


async def _sweep(db: Database) -> tuple[float, int]:
    clock = ManualClock(NOW)
    started = time.perf_counter()
    fired = await service.sweep_due(db, clock, BATCH)
    return time.perf_counter() - started, fired


async def _sweep_replicas(dsn: str, replicas: int = 3) -> tuple[float, int]:
    """Three sweepers with their own pools; SKIP LOCKED splits the due rows between them."""
    clock = ManualClock(NOW)
    pools = [Database(dsn, SCHEMA, pool_size=2) for _ in range(replicas)]
    for pool in pools:
        await pool.connect()

    async def sweeper(db: Database) -> int:
        return await service.sweep_due(db, clock, BATCH)

    try:
        started = time.perf_counter()
        counts = await asyncio.gather(*(sweeper(db) for db in pools))
        seconds = time.perf_counter() - started
    finally:
        for pool in pools:
            await pool.close()
    return seconds, sum(counts)


async def _fired_once(db: Database, due: int, who: str) -> None:
    """Every due timeline fired its step once: one ReminderDue and one late-interest booking each,
    no event twice. `sweep_due` counts rows handled, which a sweep that only moves plans (nothing
    due after all) also reaches, so the outbox is what proves the steps fired."""
    async with db.connection() as conn:
        steps = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type LIKE '%reminder_due%'")
        distinct = await conn.fetchval("SELECT count(DISTINCT event_id) FROM outbox")
        total = await conn.fetchval("SELECT count(*) FROM outbox")
        interest = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type LIKE '%fee_charged%'"
            " AND convert_from(value, 'UTF8') LIKE '%late_interest%'"
        )
    if steps != due or distinct != total or interest != due:
        raise RuntimeError(
            f"{who} fired {steps} steps and booked late interest {interest} times for {due} timelines planned as"
            f" due ({total - distinct} events repeated): the bench's data no longer puts them due"
        )


async def _bare_sweep(db: Database) -> float:
    started = time.perf_counter()
    async with db.connection() as conn:
        while True:
            async with conn.transaction():
                ids = await conn.fetch(
                    "SELECT claim_id FROM timelines WHERE status = 'active' AND next_action_at <= $1"
                    " ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                    NOW, BATCH,
                )  # fmt: skip
                if not ids:
                    break
                await conn.execute(
                    "UPDATE timelines SET next_action_at = next_action_at + interval '14 days', step = step + 1"
                    " WHERE claim_id = ANY($1::uuid[])",
                    [r["claim_id"] for r in ids],
                )
    return time.perf_counter() - started


async def _run(opts: Options) -> Figure:
    total, due = opts.size(1_000_000, 100_000), opts.size(100_000, 10_000)
    values, component, replicas = [], [], []
    with temp_dir("sweep") as home:
        pg = EmbeddedPostgres(home / "pg", durable=True)
        pg.start()
        try:
            await migrate_async(pg.dsn, SCHEMA, MIGRATIONS)
            db = Database(pg.dsn, SCHEMA, pool_size=4)
            await db.connect()
            try:
                await _load(db, total, due)
                for i in range(opts.runs):
                    if i:
                        await _reset(db, due)
                    seconds, fired = await _sweep(db)
                    if fired != due:
                        raise RuntimeError(f"swept {fired} rows, expected {due}")
                    await _fired_once(db, due, "the sweep")
                    values.append(seconds)
                    await _reset(db, due)
                    three, fired = await _sweep_replicas(pg.dsn)
                    if fired != due:
                        raise RuntimeError(f"three replicas swept {fired} rows, expected {due}")
                    await _fired_once(db, due, "three replicas")
                    replicas.append(three)
                    await _reset(db, due)
                    component.append(await _bare_sweep(db))
                    say(
                        f"{KEY} run {i + 1}: {seconds:.2f} s for {due} due of {total}, three replicas {three:.2f} s,"
                        f" bare sweep {component[-1]:.2f} s"
                    )
            finally:
                await db.close()
        finally:
            pg.stop()
    return Figure(
        KEY,
        "s",
        total,
        values,
        component,
        "bare SKIP LOCKED sweep of the same due rows, s",
        extra={"sweep_1m_3_replicas_s": statistics.median(replicas)},
    )


def run(opts: Options) -> Figure:
    return asyncio.run(_run(opts))
