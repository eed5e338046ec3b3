"""The two loops of the bank claims, run beside the service's consumer: the sync (claims whose
wanted state the bank lacks are sent, leased so replicas share the work) and the poll of the bank's
payments.

Both wait for work instead of polling for it: the sync sleeps until the earliest claim falls due
(a new one, a retry's backoff, a lease that runs out) or until the consumer has applied events,
whose handlers are the only writers of what the bank should hold; the poll asks the bank every
`poll_interval_s` while a claim there may be paid, and otherwise waits for the consumer to apply
events (a claim created at the bank). Their idle pauses only bound a misbehaving writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.wakeup import Wakeup
from krafa_kit.worker import PollingWorker, Round

from krafa_payments_ingest.bank_claims import service
from krafa_payments_ingest.bank_claims.client import ClaimsClient

log = logging.getLogger(__name__)


class BankClaimsSync(PollingWorker):
    name = "bank claim sync"
    # Nothing may end the loop (the bank's client is closed with it): any failure is tried again.
    transient: ClassVar[tuple[type[BaseException], ...]] = (Exception,)

    def __init__(self, db: Database, client: ClaimsClient, *, idle_s: float) -> None:
        super().__init__(idle_s)
        self.db = db
        self.client = client

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.client.aclose()

    async def round(self) -> Round:
        done = await service.sync_due(self.db, self.client)
        if done:
            return Round(done, more=True)
        return Round(next_due_in_s=await service.next_sync_in_s(self.db))


class BankPaymentsPoll:
    """Asks the bank for the payments on its claims every `poll_interval_s` while any claim there
    may be paid; with none, waits for `wakeup` (set when the consumer has applied events), at most
    `idle_s`."""

    def __init__(
        self, db: Database, clock: Clock, client: ClaimsClient, *, poll_interval_s: float, idle_s: float
    ) -> None:
        self.db = db
        self.clock = clock
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.idle_s = idle_s
        self.wakeup = Wakeup()

    async def run(self) -> None:
        while True:
            polled: int | None = 0
            try:
                polled = await service.poll_payments(self.db, self.client, self.clock)
            except Exception:
                log.exception("polling the bank's payments failed")
            if polled is None:
                await self.wakeup.wait(self.idle_s)
            else:
                await asyncio.sleep(self.poll_interval_s)
