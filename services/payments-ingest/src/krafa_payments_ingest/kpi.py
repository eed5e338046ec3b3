"""Payment KPIs from payments-ingest's own tables, exported at scrape time: payments matched and
unmatched by creditor and currency (counted from the table, so exact across restarts), the
operator queue of unmatched payments nobody has handled yet, and when the last bank file of each
format arrived (what tells a missing daily file). A background loop refreshes one
snapshot every REFRESH_S; the collector serves the last one, so a scrape never waits on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
from krafa_kit.kpi import SnapshotCollector
from krafa_kit.runtime import Runtime
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from krafa_payments_ingest.parsers import FORMATS
from krafa_payments_ingest.parsers.csv_mapped import FORMAT as CSV_FORMAT

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # about one scrape interval; the queries scan whole tables

QUERIES = {
    # Credits only: reversals are negative entries and are not payments.
    "payments": """
        SELECT coalesce(creditor_id::text, 'unknown') AS creditor, state, currency,
               count(*) AS n, sum(amount_minor) AS amount
        FROM payments WHERE amount_minor > 0 GROUP BY 1, 2, 3""",
    "queue": """
        SELECT currency, count(*) AS n, coalesce(sum(amount_minor), 0) AS amount FROM payments
        WHERE state = 'unmatched' AND handled_at IS NULL AND amount_minor > 0 GROUP BY 1""",
    # Bank files only: not the real-time notifications, card payments or the claims interface's polls.
    "files": f"""
        SELECT format, extract(epoch FROM max(imported_at))::float8 AS last FROM imports
        WHERE format IN ({", ".join(f"'{name}'" for name in (*FORMATS, CSV_FORMAT))}) GROUP BY 1""",
}


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    return {name: list(await conn.fetch(sql)) for name, sql in QUERIES.items()}


def families(rows: dict[str, list[asyncpg.Record]]) -> Iterator[Metric]:
    labels = ["creditor", "state", "currency"]
    count = CounterMetricFamily(
        "krafa_collection_payments", "Bank payments recorded, by creditor, state (matched, unmatched)", labels=labels
    )
    amount = CounterMetricFamily(
        "krafa_collection_payments_amount_minor", "Sum of recorded bank payments in minor units", labels=labels
    )
    for r in rows.get("payments", []):
        count.add_metric([r["creditor"], r["state"], r["currency"]], r["n"])
        amount.add_metric([r["creditor"], r["state"], r["currency"]], int(r["amount"]))
    yield count
    yield amount
    queue = GaugeMetricFamily(
        "krafa_collection_unmatched_queue", "Unmatched payments waiting for an operator", labels=["currency"]
    )
    queue_amount = GaugeMetricFamily(
        "krafa_collection_unmatched_queue_amount_minor",
        "Amount of unmatched payments waiting for an operator, in minor units",
        labels=["currency"],
    )
    for r in rows.get("queue", []):
        queue.add_metric([r["currency"]], r["n"])
        queue_amount.add_metric([r["currency"]], int(r["amount"]))
    yield queue
    yield queue_amount
    files = GaugeMetricFamily(
        "krafa_bank_file_last_imported_timestamp_seconds",
        "When the newest bank file of the format was imported (Unix time on the service's clock)",
        labels=["format"],
    )
    for r in rows.get("files", []):
        files.add_metric([r["format"]], r["last"])
    yield files


SNAPSHOT = SnapshotCollector(families, REFRESH_S)
REGISTRY.register(SNAPSHOT)


def install(runtime: Runtime) -> None:
    """Refresh the snapshot in the background while the service runs."""
    SNAPSHOT.install(runtime, lambda conn: snapshot(conn))
