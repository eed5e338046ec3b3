"""Scheduler KPIs from its own timelines table, exported at scrape time.

`krafa_scheduler_due_steps` and `krafa_scheduler_timer_lag_seconds` say whether the sweep keeps
up with its timers: a step whose time has come but has not fired shows here until it fires. A
background loop refreshes one snapshot every REFRESH_S; the collector serves the last one, so a
scrape never waits on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
from krafa_kit.clock import Clock
from krafa_kit.kpi import SnapshotCollector
from krafa_kit.runtime import Runtime
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # about one scrape interval; the queries scan whole tables

TIMELINES_SQL = "SELECT creditor_id::text AS creditor, status, count(*) AS n FROM timelines GROUP BY 1, 2"
DUE_SQL = """
    SELECT count(*) AS n, min(next_action_at) AS oldest FROM timelines
    WHERE status = 'active' AND next_action_at <= $1"""


async def snapshot(conn: asyncpg.Connection, clock: Clock) -> dict[str, Any]:
    now = clock.now()
    due = await conn.fetchrow(DUE_SQL, now)
    assert due is not None
    oldest: datetime | None = due["oldest"]
    return {
        "timelines": list(await conn.fetch(TIMELINES_SQL)),
        "due": int(due["n"]),
        # Wall seconds, also under a simulated clock: how long an operator has been waiting.
        "lag": clock.wall_seconds(now - oldest) if oldest is not None else 0.0,
    }


def families(rows: dict[str, Any]) -> Iterator[Metric]:
    timelines = GaugeMetricFamily(
        "krafa_scheduler_timelines", "Claim timelines by creditor and status", labels=["creditor", "status"]
    )
    for r in rows.get("timelines", []):
        timelines.add_metric([r["creditor"], r["status"]], r["n"])
    yield timelines
    due = GaugeMetricFamily("krafa_scheduler_due_steps", "Active timelines whose next step is due but has not fired")
    lag = GaugeMetricFamily(
        "krafa_scheduler_timer_lag_seconds", "Wall seconds since the oldest due, unfired step fell due (0: none)"
    )
    if rows:
        due.add_metric([], rows["due"])
        lag.add_metric([], rows["lag"])
    yield due
    yield lag


SNAPSHOT = SnapshotCollector(families, REFRESH_S)
REGISTRY.register(SNAPSHOT)


def install(runtime: Runtime) -> None:
    """Refresh the snapshot in the background while the service runs."""
    SNAPSHOT.install(runtime, lambda conn: snapshot(conn, runtime.clock))
