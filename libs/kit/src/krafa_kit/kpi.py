"""Scrape-time gauges read from a service's own tables: a background loop refreshes one snapshot
every `refresh_s`; the collector serves the last snapshot, so a scrape never waits on the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from krafa_kit.runtime import Runtime

log = logging.getLogger(__name__)


class SnapshotCollector(Collector):
    def __init__(self, families: Callable[[dict[str, Any]], Iterable[Metric]], refresh_s: float = 10.0) -> None:
        self.families = families
        self.refresh_s = refresh_s
        self.rows: dict[str, Any] = {}

    def collect(self) -> Iterable[Metric]:
        return list(self.families(self.rows))

    def describe(self) -> Iterable[Metric]:
        return list(self.families({}))

    def install(self, runtime: Runtime, query: Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]]) -> None:
        """Refresh the snapshot in the background while the service runs."""

        async def refresh() -> None:
            while True:
                try:
                    async with runtime.db.connection() as conn, conn.transaction(readonly=True):
                        await conn.execute("SET LOCAL statement_timeout = '5s'")
                        self.rows = await query(conn)
                except Exception as exc:  # a failed refresh keeps the last snapshot; the next one retries
                    log.warning("KPI refresh failed", extra={"error": repr(exc)})
                await asyncio.sleep(self.refresh_s)

        runtime.add_background("kpi", refresh)
