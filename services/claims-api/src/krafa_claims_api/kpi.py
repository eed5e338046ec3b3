"""Collection KPIs from claims-api's own tables, exported at scrape time.

Claims, balances, payments and reminder history live here, so state (claims by status, open
amount) and outcomes (amount recovered per reminder step, days from due date to payment,
recovery within 30/60/90 days, bounces) are read from the database rather than counted in
memory: they are exact across restarts and replicas. A background loop refreshes one snapshot
every REFRESH_S with short read-only queries; the collector serves the last snapshot, so a
scrape never waits on PostgreSQL. Labels: creditor (its id; `krafa_creditor_info` maps it to the
name), currency, state, step, within, a webhook endpoint's id — all bounded. The webhook queue
(deliveries waiting per endpoint, the oldest one's age) is read here too: exact across replicas,
where the attempt counters (metrics.py) are per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
from krafa_events import EmailBounced, Event, PaymentReceived, ReminderSent
from krafa_kit.kpi import SnapshotCollector
from krafa_kit.runtime import Runtime
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # about one scrape interval; the queries scan whole tables
DAYS_BUCKETS = (0, 7, 14, 30, 60, 90, 180, 365)
WINDOWS = (30, 60, 90)


def _any_version(event: type[Event]) -> str:
    """A LIKE pattern for every version of the event (its `_`s taken literally)."""
    return event.family().replace("_", "\\_") + ".v%"


# Every version of each event counts: a v2 does not drop out of the figures.
PAYMENT = _any_version(PaymentReceived)
REMINDER_SENT = _any_version(ReminderSent)
BOUNCED = _any_version(EmailBounced)

QUERIES: dict[str, str] = {
    "creditors": "SELECT id::text AS creditor, name FROM creditors",
    "claims": """
        SELECT creditor_id::text AS creditor, status AS state, count(*) AS n
        FROM claims GROUP BY 1, 2""",
    "open_amount": """
        SELECT creditor_id::text AS creditor, currency,
               sum(greatest(amount_minor + fees_minor + interest_minor - paid_minor - written_off_minor, 0)) AS amount
        FROM claims WHERE status IN ('open', 'disputed', 'held') GROUP BY 1, 2""",
    # Each payment is credited to the last reminder step sent before it ("0": before any reminder).
    "recovered": f"""
        SELECT c.creditor_id::text AS creditor, c.currency,
               coalesce((SELECT max((s.details->>'step')::int) FROM claim_history s
                         WHERE s.claim_id = p.claim_id AND s.event_type LIKE '{REMINDER_SENT}'
                           AND s.occurred_at <= p.occurred_at), 0)::text AS step,
               sum((p.details->>'amount_minor')::bigint) AS amount
        FROM claim_history p JOIN claims c ON c.id = p.claim_id
        WHERE p.event_type LIKE '{PAYMENT}' GROUP BY 1, 2, 3""",
    "days_to_payment": """
        SELECT creditor_id::text AS creditor, ((paid_at AT TIME ZONE 'UTC')::date - due_date) AS days, count(*) AS n
        FROM claims WHERE status = 'paid' AND paid_at IS NOT NULL GROUP BY 1, 2""",
    # Cohorts: claims due at least N days ago (cancelled ones excluded), and how many of them were
    # fully paid within N days of the due date. $1 is today on the service's clock.
    "recovery": """
        SELECT creditor_id::text AS creditor, w.days AS within, count(*) AS due,
               count(*) FILTER (WHERE status = 'paid' AND (paid_at AT TIME ZONE 'UTC')::date - due_date <= w.days)
                   AS recovered
        FROM claims CROSS JOIN unnest($2::int[]) AS w(days)
        WHERE status <> 'cancelled' AND due_date <= $1::date - w.days GROUP BY 1, 2""",
    "bounces": f"""
        SELECT h.creditor AS creditor, count(DISTINCT h.event_id) AS n FROM (
            SELECT c.creditor_id::text AS creditor, s.event_id FROM claim_history s JOIN claims c ON c.id = s.claim_id
            WHERE s.event_type LIKE '{BOUNCED}') h GROUP BY 1""",
    "emails": f"""
        SELECT h.creditor AS creditor, count(DISTINCT h.event_id) AS n FROM (
            SELECT c.creditor_id::text AS creditor, s.event_id FROM claim_history s JOIN claims c ON c.id = s.claim_id
            WHERE s.event_type LIKE '{REMINDER_SENT}' AND s.details->>'channel' = 'email') h GROUP BY 1""",
    # Every active webhook endpoint, with the deliveries waiting for it (queued or to be retried)
    # and how long the oldest has waited: 0 and 0 when none. Read through the pending-only index.
    "webhooks": """
        WITH pending AS (
            SELECT endpoint_id, count(*) AS n, min(created_at) AS oldest
            FROM webhook_deliveries WHERE status = 'pending' GROUP BY 1)
        SELECT e.creditor_id::text AS creditor, e.id::text AS endpoint, coalesce(p.n, 0) AS pending,
               coalesce(extract(epoch FROM now() - p.oldest), 0)::float8 AS oldest_s
        FROM webhook_endpoints e LEFT JOIN pending p ON p.endpoint_id = e.id
        WHERE e.disabled_at IS NULL""",
}


async def snapshot(conn: asyncpg.Connection, now: datetime) -> dict[str, list[asyncpg.Record]]:
    results: dict[str, list[asyncpg.Record]] = {}
    for name, sql in QUERIES.items():
        args: tuple[Any, ...] = (now.date(), list(WINDOWS)) if name == "recovery" else ()
        results[name] = list(await conn.fetch(sql, *args))
    return results


def families(rows: dict[str, list[asyncpg.Record]]) -> Iterator[Metric]:
    """The metric families for one snapshot; declared (without samples) before the first one."""
    info = GaugeMetricFamily("krafa_creditor_info", "A creditor's name by id", labels=["creditor", "name"])
    for r in rows.get("creditors", []):
        info.add_metric([r["creditor"], r["name"][:80]], 1)
    yield info
    claims = GaugeMetricFamily("krafa_collection_claims", "Claims by creditor and state", labels=["creditor", "state"])
    for r in rows.get("claims", []):
        claims.add_metric([r["creditor"], r["state"]], r["n"])
    yield claims
    open_amount = GaugeMetricFamily(
        "krafa_collection_open_amount_minor",
        "Outstanding amount of open, disputed and held claims, in minor units",
        labels=["creditor", "currency"],
    )
    for r in rows.get("open_amount", []):
        open_amount.add_metric([r["creditor"], r["currency"]], int(r["amount"] or 0))
    yield open_amount
    recovered = CounterMetricFamily(
        "krafa_collection_recovered_amount_minor",
        "Payments applied to claims, in minor units, by the last reminder step sent before the payment (0: none)",
        labels=["creditor", "currency", "step"],
    )
    for r in rows.get("recovered", []):
        recovered.add_metric([r["creditor"], r["currency"], r["step"]], int(r["amount"] or 0))
    yield recovered
    yield _days_histogram(rows.get("days_to_payment", []))
    ratio = GaugeMetricFamily(
        "krafa_collection_recovery_ratio",
        "Share of claims due at least N days ago that were paid in full within N days of the due date",
        labels=["creditor", "within"],
    )
    for r in rows.get("recovery", []):
        ratio.add_metric([r["creditor"], str(r["within"])], r["recovered"] / r["due"])
    yield ratio
    emails = {r["creditor"]: r["n"] for r in rows.get("emails", [])}
    bounces = CounterMetricFamily(
        "krafa_collection_emails_bounced", "Reminder emails reported bounced (EmailBounced)", labels=["creditor"]
    )
    sent = CounterMetricFamily(
        "krafa_collection_emails_sent", "Reminder emails handed to the SMTP server (ReminderSent)", labels=["creditor"]
    )
    for creditor, n in emails.items():
        sent.add_metric([creditor], n)
    for r in rows.get("bounces", []):
        bounces.add_metric([r["creditor"]], r["n"])
    yield sent
    yield bounces
    yield from _webhook_families(rows.get("webhooks", []))


def _webhook_families(rows: list[asyncpg.Record]) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        "krafa_webhook_deliveries_pending",
        "Webhook deliveries waiting for a creditor's active endpoint (queued or to be retried)",
        labels=["creditor", "endpoint"],
    )
    oldest = GaugeMetricFamily(
        "krafa_webhook_oldest_pending_age_seconds",
        "How long the oldest delivery waiting for the endpoint has waited (0: none waits)",
        labels=["creditor", "endpoint"],
    )
    for r in rows:
        pending.add_metric([r["creditor"], r["endpoint"]], r["pending"])
        oldest.add_metric([r["creditor"], r["endpoint"]], r["oldest_s"])
    yield pending
    yield oldest


def _days_histogram(rows: list[asyncpg.Record]) -> HistogramMetricFamily:
    histogram = HistogramMetricFamily(
        "krafa_collection_days_to_payment",
        "Days from a claim's due date to the day it was paid in full (negative: paid early)",
        labels=["creditor"],
    )
    per_creditor: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        per_creditor.setdefault(r["creditor"], []).append((int(r["days"]), int(r["n"])))
    for creditor, counts in sorted(per_creditor.items()):
        buckets = [(str(bound), float(sum(n for days, n in counts if days <= bound))) for bound in DAYS_BUCKETS]
        total = sum(n for _, n in counts)
        buckets.append(("+Inf", float(total)))
        histogram.add_metric([creditor], buckets, sum_value=float(sum(days * n for days, n in counts)))
    return histogram


SNAPSHOT = SnapshotCollector(families, REFRESH_S)
REGISTRY.register(SNAPSHOT)


def install(runtime: Runtime) -> None:
    """Refresh the snapshot in the background while the service runs."""
    SNAPSHOT.install(runtime, lambda conn: snapshot(conn, runtime.clock.now()))
