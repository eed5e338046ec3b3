"""payments-ingest running over the real PostgreSQL and broker, and what a test asks of it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from krafa_events import Event
from krafa_kit.clock import ManualClock
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.kafka import create_producer
from krafa_kit.outbox import Outbox
from krafa_kit.testing import TopicReader, eventually, serving
from krafa_payments_ingest.app import create_app
from krafa_payments_ingest.settings import Settings
from pydantic import SecretStr

TOKEN = "test-operator-token"  # noqa: S105 (a test value, not a credential)
NOW = datetime(2026, 3, 5, 10, tzinfo=UTC)
MAX_UPLOAD = 256 * 1024


@dataclass
class PaymentsIngest:
    app: FastAPI
    base_url: str
    settings: Settings

    @property
    def db(self) -> Database:
        db: Database = self.app.state.runtime.db
        return db

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=60)

    async def publish(self, *events: Event) -> None:
        """Send events to their topics exactly as claims-api's outbox relay would."""
        producer = create_producer(self.settings)
        await producer.start()
        try:
            for event in events:
                outbox = Outbox("/test")
                outbox.add(event)
                encoded = outbox.pending[0]
                await producer.send_and_wait(
                    encoded.topic, encoded.value, key=encoded.key, headers=list(encoded.headers)
                )
        finally:
            await producer.stop()

    async def count(self, query: str, *args: object) -> int:
        async with self.db.connection() as conn:
            return int(await conn.fetchval(query, *args))

    async def wait_indexed(self, claims: int, *, closed: int = 0) -> None:
        async def indexed() -> bool:
            total = await self.count("SELECT count(*) FROM claim_index")
            done = await self.count("SELECT count(*) FROM claim_index WHERE status <> 'open'")
            return total == claims and done == closed

        await eventually(indexed, timeout=60)

    async def wait_published(self) -> None:
        async def published() -> bool:
            return await self.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

        await eventually(published, timeout=60)


@contextlib.asynccontextmanager
async def running(
    database_url: str, broker: EmbeddedBroker, *, consume: bool, **settings_overrides: Any
) -> AsyncIterator[PaymentsIngest]:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        operator_token=SecretStr(TOKEN),
        max_upload_bytes=MAX_UPLOAD,
        # No consumer where a test needs none: its group join (and the ~5 s the broker holds a
        # join on shutdown) is of no use to a test of the HTTP side alone.
        consume=consume,
        **settings_overrides,
    )
    app = create_app(settings, clock=ManualClock(NOW))
    async with serving(app) as base_url:
        yield PaymentsIngest(app=app, base_url=base_url, settings=settings)


@pytest.fixture
async def payments_ingest(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[PaymentsIngest]:
    """The whole service: HTTP, outbox relay and the krafa.claims consumer."""
    async with running(database_url, broker, consume=True) as service:
        yield service


@pytest.fixture
async def operator_api(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[PaymentsIngest]:
    """The service without its consumer, for tests of uploads and the operator API."""
    async with running(database_url, broker, consume=False) as service:
        yield service


@pytest.fixture
async def payments_topic(broker: EmbeddedBroker) -> AsyncIterator[TopicReader]:
    """Everything published to krafa.payments, read by a fresh consumer group from the start."""
    async with TopicReader(broker.bootstrap, "krafa.payments") as reader:
        yield reader
