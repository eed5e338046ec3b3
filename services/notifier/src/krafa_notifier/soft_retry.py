"""Soft bounces: send the same email delivery again after a delay, at most `max` times within
`window_h` hours; the bounce after that is treated as hard (the letter fallback, and the address
is not used again).

Never twice: each re-send is a `soft_retries` row keyed by (delivery, attempt), and each bounce
schedules at most one (`bounce_id` is unique). A soft bounce that arrives while a re-send is
already scheduled or in flight adds nothing: it reports a send that the re-send replaces. The
timer is swept with FOR UPDATE SKIP LOCKED on the service's clock (simulated in demos); firing
puts the delivery row back to `pending`, so the dispatcher re-sends it with the same Message-ID
and return path, after checking again that its claims are open and the address not suppressed.

The bounce-handler escalates the `KRAFA_SOFT_BOUNCE_MAX`-th soft bounce of an address to hard on
its own (services/bounce-handler/README.md, "Soft-bounce policy"); the defaults agree (two
re-sends here, the third soft bounce hard there), and either way the fallback is the same
idempotent letter delivery keyed by (reminder, "fallback").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
from krafa_events import EmailBounced
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.wakeup import Wakeup
from prometheus_client import Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from krafa_notifier import repository

log = logging.getLogger(__name__)

MIN_WAIT_S = 0.05

RETRIES = Counter(
    "krafa_soft_retries_total",
    "Soft bounces and their re-sends, by outcome",
    ["outcome"],  # scheduled, covered, exhausted, ignored, fired, skipped, cancelled
)


class SoftRetrySettings(BaseSettings):
    """`KRAFA_SOFT_RETRY_DELAY_S`, `KRAFA_SOFT_RETRY_MAX`, `KRAFA_SOFT_RETRY_WINDOW_H`, ..."""

    model_config = SettingsConfigDict(env_prefix="KRAFA_SOFT_RETRY_", extra="ignore")

    # Simulated seconds after the bounce before the same email is sent again.
    delay_s: float = Field(default=4 * 3600.0, ge=0)
    # Re-sends per delivery within the window; 0 treats every soft bounce as hard.
    max: int = Field(default=2, ge=0)
    window_h: float = Field(default=72.0, gt=0)
    # The longest sleep of the sweep (wall seconds): it sleeps until the earliest timer falls due
    # and wakes when the consumer has applied events; timers per sweep.
    sweep_interval_s: float = Field(default=30.0, gt=0)
    sweep_batch: int = Field(default=100, ge=1)

    @property
    def policy(self) -> SoftRetryPolicy:
        return SoftRetryPolicy(timedelta(seconds=self.delay_s), self.max, timedelta(hours=self.window_h))


@dataclass(frozen=True, slots=True)
class SoftRetryPolicy:
    delay: timedelta = timedelta(hours=4)
    max_retries: int = 2
    window: timedelta = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class Retry:
    attempt: int
    status: str
    bounced_at: datetime


Decision = Literal["schedule", "covered", "exhausted"]


def decide(delivery_status: str, retries: list[Retry], bounced_at: datetime, policy: SoftRetryPolicy) -> Decision:
    """What a soft bounce of a sent email delivery leads to, given its earlier re-sends. Pure."""
    if delivery_status != "sent" or any(r.status == "scheduled" for r in retries):
        # A re-send is scheduled or in flight: the bounce reports a send it already replaces.
        return "covered"
    recent = [r for r in retries if r.status == "fired" and r.bounced_at > bounced_at - policy.window]
    return "exhausted" if len(recent) >= policy.max_retries else "schedule"


def load_policy() -> SoftRetryPolicy:
    return SoftRetrySettings().policy


async def absorb(uow: UnitOfWork, event: EmailBounced, policy: SoftRetryPolicy | None = None) -> EmailBounced | None:
    """Called by the EmailBounced handler in its unit of work. Returns the bounce the letter
    fallback must act on (a hard one, or a soft one whose re-sends are exhausted, as hard), or
    None when a re-send was scheduled or the bounce adds nothing."""
    conn = uow.conn
    if event.kind == "hard":
        cancelled = await conn.execute(
            "UPDATE soft_retries SET status = 'cancelled', detail = 'hard bounce'"
            " WHERE delivery_id = $1 AND status = 'scheduled'",
            event.delivery_id,
        )
        if cancelled.split()[-1] != "0":
            RETRIES.labels("cancelled").inc()
        # A re-send already fired but not yet picked up by the dispatcher: stop it, or it would
        # find the address suppressed and go out as a second letter beside the fallback.
        await conn.execute(
            "UPDATE deliveries SET status = 'sent', last_error = 're-send stopped: hard bounce'"
            " WHERE id = $1 AND status = 'pending'"
            " AND EXISTS (SELECT 1 FROM soft_retries WHERE delivery_id = $1 AND status = 'fired')",
            event.delivery_id,
        )
        return event
    policy = policy or load_policy()
    # The row lock orders this against the sweeper re-arming the same delivery.
    delivery = await conn.fetchrow("SELECT status, channel FROM deliveries WHERE id = $1 FOR UPDATE", event.delivery_id)
    if delivery is None or delivery["channel"] != "email":
        RETRIES.labels("ignored").inc()
        log.info("soft bounce of no email delivery of ours", extra={"delivery_id": str(event.delivery_id)})
        return None
    if await conn.fetchval("SELECT true FROM soft_retries WHERE bounce_id = $1", event.bounce_id):
        return None  # the same bounce again (an outbox replay): it already had its effect
    rows = await conn.fetch(
        "SELECT attempt, status, bounced_at FROM soft_retries WHERE delivery_id = $1 ORDER BY attempt",
        event.delivery_id,
    )
    retries = [Retry(r["attempt"], r["status"], r["bounced_at"]) for r in rows]
    decision = decide(delivery["status"], retries, event.bounced_at, policy)
    RETRIES.labels(decision).inc()
    extra = {"delivery_id": str(event.delivery_id), "bounce_id": str(event.bounce_id), "decision": decision}
    if decision == "covered":
        log.info("soft bounce covered by a re-send", extra=extra)
        return None
    if decision == "exhausted":
        log.info("soft bounce retries exhausted: treated as hard", extra=extra)
        hours = policy.window.total_seconds() / 3600
        reason = f"soft bounce after {policy.max_retries} re-sends within {hours:g}h: {event.reason}"
        return event.model_copy(update={"kind": "hard", "reason": reason[:300]})
    attempt = max((r.attempt for r in retries), default=0) + 1
    await conn.execute(
        "INSERT INTO soft_retries (delivery_id, attempt, bounce_id, creditor_id, bounced_at, due_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        event.delivery_id,
        attempt,
        event.bounce_id,
        event.creditor_id,
        event.bounced_at,
        event.bounced_at + policy.delay,
    )
    log.info("soft bounce: re-send scheduled", extra={**extra, "attempt": attempt})
    return None


async def fire_due(db: Database, now: datetime, limit: int = 100) -> int:
    """Fire the re-sends due at `now` (the service's clock): each delivery goes back to pending
    for the dispatcher, unless it is no longer a sent email or its reminder already went out as a
    letter after a hard bounce. Returns how many timers were taken."""
    async with db.uow() as uow:
        due = await uow.conn.fetch(
            "SELECT delivery_id, attempt FROM soft_retries WHERE status = 'scheduled' AND due_at <= $1"
            " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        if not due:
            return 0
        ids = [r["delivery_id"] for r in due]
        rearmed = await uow.conn.fetch(
            "UPDATE deliveries d SET status = 'pending', attempts = 0, claimed_by = NULL, next_attempt_at = now(),"
            " last_error = 'soft bounce: sent again'"
            " WHERE d.id = ANY($1::uuid[]) AND d.status = 'sent' AND d.channel = 'email'"
            " AND NOT EXISTS (SELECT 1 FROM deliveries f WHERE f.reminder_id = d.reminder_id AND f.kind = 'fallback')"
            " RETURNING d.id",
            ids,
        )
        fired = {r["id"] for r in rearmed}
        if fired:
            await repository.deliveries_due(uow.conn)
        await uow.conn.execute(
            "UPDATE soft_retries r SET fired_at = $3,"
            " status = CASE WHEN r.delivery_id = ANY($2::uuid[]) THEN 'fired' ELSE 'skipped' END,"
            " detail = CASE WHEN r.delivery_id = ANY($2::uuid[]) THEN NULL"
            "   ELSE 'delivery no longer a sent email, or its letter fallback exists' END"
            " FROM unnest($1::uuid[], $4::int[]) AS t(delivery_id, attempt)"
            " WHERE r.delivery_id = t.delivery_id AND r.attempt = t.attempt",
            ids,
            list(fired),
            now,
            [r["attempt"] for r in due],
        )
        await uow.commit()
    RETRIES.labels("fired").inc(len(fired))
    RETRIES.labels("skipped").inc(len(due) - len(fired))
    for row in due:
        log.info(
            "soft retry timer fired",
            extra={
                "delivery_id": str(row["delivery_id"]),
                "attempt": row["attempt"],
                "outcome": "fired" if row["delivery_id"] in fired else "skipped",
            },
        )
    return len(due)


async def sweep_forever(
    db: Database, clock: Clock, settings: SoftRetrySettings | None = None, wakeup: Wakeup | None = None
) -> None:
    """The background task: fire due re-sends; replicas share the work through SKIP LOCKED. It
    sleeps until the earliest timer falls due (on the service's clock) or until `wakeup` is set
    (the consumer has applied events: a soft bounce may have scheduled one), never longer than
    `sweep_interval_s`."""
    settings = settings or SoftRetrySettings()
    wakeup = wakeup or Wakeup()
    while True:
        try:
            taken = await fire_due(db, clock.now(), settings.sweep_batch)
            if taken >= settings.sweep_batch:
                continue
            async with db.connection() as conn:
                due = await repository.next_soft_retry_at(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("soft retry sweep failed, retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(1)
            continue
        wait = settings.sweep_interval_s
        if due is not None:
            wait = min(clock.wall_seconds(due - clock.now()), wait)
        # A clock that does not move on its own (tests) must not spin the loop.
        await wakeup.wait(max(wait, MIN_WAIT_S))
