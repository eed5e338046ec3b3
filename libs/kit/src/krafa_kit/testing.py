"""Pytest fixtures over the real pieces: an embedded PostgreSQL per test session with a fresh
database per test, and a fresh embedded broker per test (Tansu starts in ~0.1 s), so tests never
see each other's rows or events. Registered as a plugin by the root conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI

from krafa_kit.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from krafa_kit.kafka import ensure_topics

REPO_ROOT = Path(__file__).resolve().parents[4]


def shared_dir() -> Path:
    """`../shared` beside the checkout (CI places it there); tests fail loudly without it."""
    path = REPO_ROOT.parent / "shared"
    if not (path / "corpus").is_dir():
        pytest.fail(f"the shared corpus is missing: expected {path}/corpus beside the checkout")
    return path


# KRAFA_TEST_BACKEND=testcontainers runs the same suite against Apache Kafka and PostgreSQL
# images where a Docker engine is available; the default is the embedded pair.
BACKEND = os.environ.get("KRAFA_TEST_BACKEND", "embedded")


class ContainerPostgres:
    """The PostgreSQL image behind the same interface as EmbeddedPostgres."""

    def __init__(self) -> None:
        from testcontainers.postgres import PostgresContainer

        self.container = PostgresContainer(
            "postgres:17",
            username="postgres",
            password="postgres",  # noqa: S106 (a throwaway test container)
            dbname="postgres",
        )

    def start(self) -> None:
        self.container.start()
        host = self.container.get_container_host_ip()
        port = self.container.get_exposed_port(5432)
        self._base = f"postgresql://postgres:postgres@{host}:{port}"

    @property
    def dsn(self) -> str:
        return f"{self._base}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"{self._base}/{database}"

    def stop(self) -> None:
        self.container.stop()


class ContainerKafka:
    """Apache Kafka (KRaft) behind the same interface as EmbeddedBroker."""

    def __init__(self) -> None:
        from testcontainers.kafka import KafkaContainer

        self.container = KafkaContainer("apache/kafka:3.9.0").with_kraft()
        self.process = None

    def start(self) -> None:
        self.container.start()

    @property
    def bootstrap(self) -> str:
        return str(self.container.get_bootstrap_server())

    def stop(self) -> None:
        self.container.stop()


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg: Any = (
        ContainerPostgres()
        if BACKEND == "testcontainers"
        else EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", durable=False)
    )
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
async def database_url(embedded_pg: EmbeddedPostgres) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(embedded_pg.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield embedded_pg.dsn_for(name)
    conn = await asyncpg.connect(embedded_pg.dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    instance: Any = (
        ContainerKafka() if BACKEND == "testcontainers" else EmbeddedBroker(log_path=tmp_path / "broker.log")
    )
    instance.start()
    try:
        await ensure_topics(instance.bootstrap)
        yield instance
    finally:
        instance.stop()


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Run an app on a real socket in this event loop; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `check` (sync or async) until it returns a truthy value; bounded, never a bare sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


async def publish(bootstrap: str, *events: object, source: str = "/krafa/test") -> list[str]:
    """Publish events exactly as a service's relay would (CloudEvents binary mode)."""
    from aiokafka import AIOKafkaProducer
    from krafa_events import Event, encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    ids = []
    try:
        for event in events:
            assert isinstance(event, Event)
            encoded = encode(event, source=source)
            await producer.send_and_wait(encoded.topic, encoded.value, key=encoded.key, headers=list(encoded.headers))
            ids.append(encoded.event_id)
    finally:
        await producer.stop()
    return ids


class TopicReader:
    """Reads a topic from the beginning in the background; tests poll `.events` with `eventually`."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=f"test-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            session_timeout_ms=3000,
            heartbeat_interval_ms=500,
        )
        self.events: list[object] = []
        self.raw: list[object] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicReader:
        from krafa_events import UndecodableMessage, decode

        await self.consumer.start()

        async def run() -> None:
            while True:
                batches = await self.consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    for record in records:
                        self.raw.append(record)
                        with contextlib.suppress(UndecodableMessage):
                            self.events.append(decode(list(record.headers or ()), record.value).event)

        self._task = asyncio.create_task(run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    def of_type(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]
