"""How long each service keeps what, and the sweeper that enforces it.

Every table that grows with traffic has a rule here or in its service's `retention.py`, and the
README's "Retention" section lists them all. The sweeper runs in every service process (a
background loop of the Runtime), in small batches so that it never holds long locks; several
replicas may sweep at once (the statements are idempotent). Rules every service shares:

- `inbox`: an event id is kept KRAFA_INBOX_RETENTION_DAYS (30) after it was processed: longer
  than any redelivery can come (the broker keeps a week, `krafa outbox replay` goes back one
  outbox retention window, KRAFA_OUTBOX_RETENTION_DAYS, 7).
- `outbox`: published events are kept KRAFA_OUTBOX_RETENTION_DAYS for a replay (the relay's own
  housekeeping deletes older ones); those about a debtor whose personal data was erased here go
  at the next sweep (one published after the erasure, by a send already under way, included).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from krafa_kit import metrics
from krafa_kit.clock import Clock, WallClock
from krafa_kit.db import Database

log = logging.getLogger(__name__)

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Rule:
    """One table's rule: `sql` changes at most BATCH rows a run and returns how many through its
    command tag. With `days`, `$1` is the cutoff: that many days before now on the clock the
    rule's time column is written with (`wall`: the database's now(); `service`: the service's
    clock, simulated in demos). `needs` is a table that must exist for the rule to apply."""

    table: str
    what: str
    sql: str
    days: int | None = None
    needs: str | None = None
    clock: Literal["wall", "service"] = "wall"


def inbox_rule(days: int) -> Rule:
    return Rule(
        "inbox",
        f"event ids processed more than {days} days ago",
        f"DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox WHERE processed_at < $1 LIMIT {BATCH}))",
        days,
    )


ERASED_OUTBOX = Rule(
    "outbox",
    "published events about a debtor whose personal data was erased",
    "DELETE FROM outbox WHERE ctid = ANY(ARRAY(SELECT o.ctid FROM outbox o JOIN erased_subjects s"
    " ON o.key = convert_to(s.creditor_id::text || ':' || s.debtor_id::text, 'UTF8')"
    f" WHERE o.published_at IS NOT NULL LIMIT {BATCH}))",
    needs="erased_subjects",
)


def shared_rules(inbox_days: int) -> list[Rule]:
    return [inbox_rule(inbox_days), ERASED_OUTBOX]


class RetentionSweeper:
    def __init__(
        self,
        db: Database,
        service: str,
        rules: Sequence[Rule],
        *,
        interval_s: float = 3600.0,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.service = service
        self.rules = list(rules)
        self.interval_s = interval_s
        self.clock: Clock = clock or WallClock()

    async def run(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.interval_s)

    async def sweep(self) -> dict[str, int]:
        """Apply every rule until it finds nothing more; returns the rows changed per table."""
        changed: dict[str, int] = {}
        async with self.db.connection() as conn:
            for rule in self.rules:
                if rule.needs is not None and await conn.fetchval("SELECT to_regclass($1)", rule.needs) is None:
                    continue
                total = 0
                args: tuple[datetime, ...] = ()
                if rule.days is not None:
                    now = datetime.now(UTC) if rule.clock == "wall" else self.clock.now()
                    args = (now - timedelta(days=rule.days),)
                while True:
                    count = await _apply(conn, rule, args)
                    total += count
                    if count < BATCH:
                        break
                if total:
                    metrics.RETENTION_ROWS.labels(self.service, rule.table).inc(total)
                    log.info("retention sweep", extra={"table": rule.table, "rows": total, "rule": rule.what})
                changed[rule.table] = changed.get(rule.table, 0) + total
        return changed


async def _apply(conn: asyncpg.Connection, rule: Rule, args: tuple[datetime, ...]) -> int:
    tag: str = await conn.execute(rule.sql, *args)
    return int(tag.split()[-1])
