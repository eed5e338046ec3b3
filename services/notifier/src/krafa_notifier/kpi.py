"""Delivery KPIs from the notifier's own tables, exported at scrape time: reminders sent by
creditor, channel, step and kind (primary or fallback: a fallback letter replaces a bounced
email), delivery failures, the send queue, SMS segments and provider cost, and the phone-call
queue with its outcomes. Counted from the deliveries table, so exact across restarts and
replicas. A background loop refreshes one snapshot every REFRESH_S; the collector serves the last
one, so a scrape never waits on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
from krafa_kit.kpi import SnapshotCollector
from krafa_kit.runtime import Runtime
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # about one scrape interval; the queries scan whole tables
CALL_STATES = ("open", "claimed", "done")

QUERIES = {
    "creditors": "SELECT DISTINCT creditor_id::text AS creditor FROM deliveries",
    "sent": """
        SELECT creditor_id::text AS creditor, channel, step::text AS step, kind, count(*) AS n
        FROM deliveries WHERE status = 'sent' GROUP BY 1, 2, 3, 4""",
    "failed": """
        SELECT creditor_id::text AS creditor, coalesce(channel, 'none') AS channel, count(*) AS n
        FROM deliveries WHERE status = 'failed' GROUP BY 1, 2""",
    "queue": """
        SELECT status, count(*) AS n FROM deliveries WHERE status IN ('pending', 'sending') GROUP BY 1""",
    "sms": """
        SELECT creditor_id::text AS creditor, coalesce(sum(segments), 0) AS segments
        FROM deliveries WHERE status = 'sent' AND channel = 'sms' GROUP BY 1""",
    "cost": """
        SELECT creditor_id::text AS creditor, channel, cost_currency AS currency, sum(cost_minor) AS cost
        FROM deliveries WHERE cost_minor IS NOT NULL AND cost_currency IS NOT NULL GROUP BY 1, 2, 3""",
    "calls": "SELECT creditor_id::text AS creditor, status AS state, count(*) AS n FROM call_tasks GROUP BY 1, 2",
    "outcomes": """
        SELECT creditor_id::text AS creditor, outcome, count(*) AS n FROM call_tasks
        WHERE outcome IS NOT NULL GROUP BY 1, 2""",
}


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    return {name: list(await conn.fetch(sql)) for name, sql in QUERIES.items()}


def families(rows: dict[str, list[asyncpg.Record]]) -> Iterator[Metric]:
    creditors = [r["creditor"] for r in rows.get("creditors", [])]
    sent = CounterMetricFamily(
        "krafa_collection_reminders_sent",
        "Reminders handed to a channel, by creditor, channel, step and kind (primary, fallback)",
        labels=["creditor", "channel", "step", "kind"],
    )
    for r in rows.get("sent", []):
        sent.add_metric([r["creditor"], r["channel"], r["step"], r["kind"]], r["n"])
    yield sent
    failed = CounterMetricFamily(
        "krafa_collection_delivery_failures",
        "Deliveries that failed for good, by creditor and channel (none: no usable channel)",
        labels=["creditor", "channel"],
    )
    for r in rows.get("failed", []):
        failed.add_metric([r["creditor"], r["channel"]], r["n"])
    yield failed
    queue = GaugeMetricFamily("krafa_notifier_send_queue", "Deliveries waiting to be sent", labels=["status"])
    waiting = {r["status"]: r["n"] for r in rows.get("queue", [])}
    if rows:
        for status in ("pending", "sending"):
            queue.add_metric([status], waiting.get(status, 0))
    yield queue
    # Every creditor appears, with 0 until it sends SMS, so "no SMS" is a value, not a gap.
    segments = CounterMetricFamily(
        "krafa_collection_sms_segments", "SMS segments sent (GSM-7 or UCS-2), by creditor", labels=["creditor"]
    )
    by_creditor = {r["creditor"]: int(r["segments"]) for r in rows.get("sms", [])}
    for creditor in creditors:
        segments.add_metric([creditor], by_creditor.get(creditor, 0))
    yield segments
    cost = CounterMetricFamily(
        "krafa_collection_message_cost_minor",
        "What the SMS and print providers charged, in minor units",
        labels=["creditor", "channel", "currency"],
    )
    for r in rows.get("cost", []):
        cost.add_metric([r["creditor"], r["channel"], r["currency"]], int(r["cost"]))
    yield cost
    calls = GaugeMetricFamily(
        "krafa_collection_call_tasks", "Phone-call tasks by creditor and state", labels=["creditor", "state"]
    )
    by_state = {(r["creditor"], r["state"]): r["n"] for r in rows.get("calls", [])}
    for creditor in sorted({*creditors, *(c for c, _ in by_state)}):
        for state in sorted({*CALL_STATES, *(s for c, s in by_state if c == creditor)}):
            calls.add_metric([creditor, state], by_state.get((creditor, state), 0))
    yield calls
    outcomes = CounterMetricFamily(
        "krafa_collection_call_outcomes", "Recorded phone-call outcomes", labels=["creditor", "outcome"]
    )
    for r in rows.get("outcomes", []):
        outcomes.add_metric([r["creditor"], r["outcome"]], r["n"])
    yield outcomes


SNAPSHOT = SnapshotCollector(families, REFRESH_S)
REGISTRY.register(SNAPSHOT)


def install(runtime: Runtime) -> None:
    """Refresh the snapshot in the background while the service runs."""
    SNAPSHOT.install(runtime, lambda conn: snapshot(conn))
