"""The two loops of the bank claims, run beside the service's consumer: the sync (claims whose
wanted state the bank lacks are sent, leased so replicas share the work) and the poll of the bank's
payments."""

from __future__ import annotations

import asyncio
import logging

from krafa_kit.clock import Clock
from krafa_kit.db import Database

from krafa_payments_ingest.bank_claims import service
from krafa_payments_ingest.bank_claims.client import ClaimsClient

log = logging.getLogger(__name__)


class BankClaimsWorker:
    def __init__(
        self, db: Database, clock: Clock, client: ClaimsClient, *, sync_idle_s: float, poll_interval_s: float
    ) -> None:
        self.db = db
        self.clock = clock
        self.client = client
        self.sync_idle_s = sync_idle_s
        self.poll_interval_s = poll_interval_s

    async def run_sync(self) -> None:
        try:
            while True:
                try:
                    done = await service.sync_due(self.db, self.client)
                except Exception:  # a database hiccup must not end the loop
                    log.exception("bank claim sync round failed")
                    done = 0
                if not done:
                    await asyncio.sleep(self.sync_idle_s)
        finally:
            await self.client.aclose()

    async def run_poll(self) -> None:
        while True:
            try:
                await service.poll_payments(self.db, self.client, self.clock)
            except Exception:
                log.exception("polling the bank's payments failed")
            await asyncio.sleep(self.poll_interval_s)
